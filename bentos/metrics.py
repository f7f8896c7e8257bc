"""The service's own Prometheus metrics, exported on BentoML's `/metrics` next to its own.

BentoML collects the default `prometheus_client` registry (in multiprocess mode when it runs
several workers), so plain `prometheus_client` metrics appear on its `/metrics` endpoint.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    name="slotrec_requests_total",
    documentation="Requests by endpoint and outcome (ok, fallback, degraded, restricted, "
    "client_error).",
    labelnames=["endpoint", "outcome"],
)
FALLBACKS = Counter(
    name="slotrec_fallbacks_total",
    documentation="Lists answered from popular slots, by cause.",
    labelnames=["cause"],
)
LATENCY = Histogram(
    name="slotrec_request_seconds",
    documentation="Time spent inside the service method, by endpoint.",
    labelnames=["endpoint"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
SUGGESTIONS = Counter(
    name="slotrec_suggestions_total",
    documentation="Next-slot suggestions made at the play-time threshold.",
)
EXPLORATION = Counter(
    name="slotrec_exploration_items_total",
    documentation="Exploration items served, by kind (new_game, exploration).",
    labelnames=["kind"],
)
GUARDRAILS = Counter(
    name="slotrec_guardrail_total",
    documentation="Responsible-play guardrail activations, by guardrail (restricted: a "
    "self-excluded or cooling-off player got nothing; restriction_check_failed: the registry "
    "could not be read, so nothing was recommended; for at-risk players no_exploration, "
    "no_new_games, volatility_excluded, volatility_demoted per list and reality_check per "
    "threshold crossing) and endpoint.",
    labelnames=["guardrail", "endpoint"],
)
EVENTS_REPLAYED = Counter(
    name="slotrec_events_replayed_total",
    documentation="Play events accepted while the online store was down, by outcome: replayed "
    "(applied to the live state once it answered again) or dropped (the replay queue was full; "
    "the events are in the raw files only).",
    labelnames=["outcome"],
)
