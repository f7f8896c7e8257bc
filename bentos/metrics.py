"""The service's own Prometheus metrics, exported on BentoML's `/metrics` next to its own."""

from __future__ import annotations

import bentoml

REQUESTS = bentoml.metrics.Counter(
    name="slotrec_requests_total",
    documentation="Requests by endpoint and outcome (ok, fallback, degraded, client_error).",
    labelnames=["endpoint", "outcome"],
)
FALLBACKS = bentoml.metrics.Counter(
    name="slotrec_fallbacks_total",
    documentation="Lists answered from popular slots, by cause.",
    labelnames=["cause"],
)
LATENCY = bentoml.metrics.Histogram(
    name="slotrec_request_seconds",
    documentation="Time spent inside the service method, by endpoint.",
    labelnames=["endpoint"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
SUGGESTIONS = bentoml.metrics.Counter(
    name="slotrec_suggestions_total",
    documentation="Next-slot suggestions made at the play-time threshold.",
)
EXPLORATION = bentoml.metrics.Counter(
    name="slotrec_exploration_items_total",
    documentation="Exploration items served, by kind (new_game, exploration).",
    labelnames=["kind"],
)
