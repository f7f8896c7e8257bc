"""Service health for the daily report: the running service's Prometheus `/metrics`, summarised.

The service exports (see `bentos/metrics.py`) `slotrec_requests_total{endpoint, outcome}`,
`slotrec_fallbacks_total{cause}`, `slotrec_guardrail_total{guardrail, endpoint}` and the latency
histogram `slotrec_request_seconds{endpoint}`.
They are cumulative since the service (worker) started, so the summary describes the service's
life so far, not only the report's day. Latency quantiles are estimated from the histogram
buckets the way Prometheus' `histogram_quantile` does: linear interpolation inside the bucket
the quantile falls in (the `+Inf` bucket answers with the highest finite bound).
"""

from __future__ import annotations

import math
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

SCRAPE_TIMEOUT_SECONDS = 3.0
REQUESTS = "slotrec_requests"
FALLBACKS = "slotrec_fallbacks"
LATENCY = "slotrec_request_seconds"
GUARDRAILS = "slotrec_guardrail"


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """The `q` quantile (0..1) of a cumulative histogram given as (upper bound, count) pairs.

    Returns None when the histogram holds no observations.
    """
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    total = ordered[-1][1]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # beyond the last finite bucket: its bound is all we know
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


def summarise_metrics(text: str) -> dict[str, Any]:
    """Requests by outcome, fallbacks by cause and latency p50/p99 per endpoint from `text`.

    Args:
        text: a Prometheus text exposition (what `/metrics` answers).
    """
    by_outcome: dict[str, float] = {}
    by_endpoint: dict[str, dict[str, float]] = {}
    fallbacks: dict[str, float] = {}
    buckets: dict[str, dict[float, float]] = {}
    guardrails: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == f"{REQUESTS}_total":
                outcome = labels.get("outcome", "unknown")
                by_outcome[outcome] = by_outcome.get(outcome, 0.0) + sample.value
                counts = by_endpoint.setdefault(labels.get("endpoint", "unknown"), {})
                counts[outcome] = counts.get(outcome, 0.0) + sample.value
            elif sample.name == f"{FALLBACKS}_total":
                cause = labels.get("cause", "unknown")
                fallbacks[cause] = fallbacks.get(cause, 0.0) + sample.value
            elif sample.name == f"{GUARDRAILS}_total":
                name = labels.get("guardrail", "unknown")
                guardrails[name] = guardrails.get(name, 0.0) + sample.value
            elif sample.name == f"{LATENCY}_bucket":
                # several workers (multiprocess mode) or endpoints add up per bound
                series = buckets.setdefault(labels.get("endpoint", "unknown"), {})
                bound = float(labels["le"])
                series[bound] = series.get(bound, 0.0) + sample.value
    latency: dict[str, dict[str, float | None]] = {}
    overall: dict[float, float] = {}
    for endpoint, series in sorted(buckets.items()):
        pairs = list(series.items())
        latency[endpoint] = _quantiles(pairs)
        for bound, count in pairs:
            overall[bound] = overall.get(bound, 0.0) + count
    if overall:
        latency["all"] = _quantiles(list(overall.items()))
    total = sum(by_outcome.values())
    return {
        "requests_total": int(total),
        "requests_by_outcome": {k: int(v) for k, v in sorted(by_outcome.items())},
        "requests_by_endpoint": {
            e: {k: int(v) for k, v in sorted(o.items())} for e, o in sorted(by_endpoint.items())
        },
        "fallbacks_by_cause": {k: int(v) for k, v in sorted(fallbacks.items())},
        "fallbacks_total": int(sum(fallbacks.values())),
        "guardrails_by_name": {k: int(v) for k, v in sorted(guardrails.items())},
        "fallback_share": sum(fallbacks.values()) / total if total else None,
        "latency_seconds": latency,
        "latency_buckets": {
            e: [[b, int(c)] for b, c in sorted(s.items()) if not math.isinf(b)]
            for e, s in sorted(buckets.items())
        },
    }


def _quantiles(pairs: list[tuple[float, float]]) -> dict[str, float | None]:
    ordered = sorted(pairs)
    return {
        "count": ordered[-1][1] if ordered else 0.0,
        "p50": histogram_quantile(0.5, ordered),
        "p99": histogram_quantile(0.99, ordered),
    }


def service_health(service_url: str | None, timeout: float = SCRAPE_TIMEOUT_SECONDS) -> dict:
    """Scrape `<service_url>/metrics` and summarise it; never raises.

    Returns:
        `{"status": "not_configured"}` without a URL, `{"status": "unreachable", "error"}` when
        the scrape fails, else `{"status": "ok", "url", ...summarise_metrics(...)}`.
    """
    if not service_url:
        return {"status": "not_configured"}
    url = service_url.rstrip("/") + "/metrics"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            text = response.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return {"status": "unreachable", "url": url, "error": str(exc)}
    try:
        summary = summarise_metrics(text)
    except ValueError as exc:  # not a Prometheus exposition
        return {"status": "unreachable", "url": url, "error": f"unreadable metrics: {exc}"}
    return {"status": "ok", "url": url, **summary}
