"""`slotrec bench search`: FAISS's exact search against numpy scoring, per catalogue size.

Candidate generation searches the slot index once per request with every query of it (the
context slot, the recent slots, the player's vector). Where the catalogue is small, scoring it
with one numpy matrix product and a partial sort could be faster than calling FAISS: this
measures both, single-threaded as the service runs them (`bentos.native_threads`), for one and
for five queries at the service's search depth, on unit vectors of the model's width, and
writes which is faster at each size.

Measured (2026-12-04, 2 cores): FAISS was faster at every size from 200 to 50,000 slots (5
queries at 3,000 slots: 80 µs against 320 µs; numpy's partial sort of every row costs more than
FAISS's whole search), so serving has no numpy path.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from slotrec.core.atomic import write_json_atomic

SIZES = (200, 1_000, 3_000, 10_000, 20_000, 50_000)
QUERIES = (1, 5)
DEPTH = 100  # the service's vector-candidate depth (bentos/recommender/candidates.py)
DIM = 32


def _per_call_us(call: Callable[[], Any], seconds: float = 0.3) -> float:
    """Median microseconds per call over a few timed rounds of about `seconds` each."""
    call()
    rounds = []
    for _ in range(5):
        n, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds / 5:
            call()
            n += 1
        rounds.append((time.perf_counter() - started) / n * 1e6)
    return float(np.median(rounds))


def numpy_top(vectors: np.ndarray, queries: np.ndarray, depth: int) -> np.ndarray:
    """The `depth` best rows per query by inner product, best first (numpy only)."""
    scores = queries @ vectors.T  # [n_queries, n_slots]
    if depth < vectors.shape[0]:
        top = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
    else:
        top = np.broadcast_to(np.arange(vectors.shape[0]), scores.shape)
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1)


def run_search_bench(out: Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Time both ways for every size and query count; write `out` and return it."""
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(7)
    rows = []
    try:
        for n in SIZES:
            vectors = rng.standard_normal((n, DIM)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            index = faiss.IndexFlatIP(DIM)
            index.add(vectors)
            depth = min(DEPTH, n)
            for nq in QUERIES:
                queries = np.ascontiguousarray(vectors[:nq])
                # the same answer both ways (ties aside), or the timing would mean nothing
                _, found = index.search(queries, depth)
                assert (found[:, 0] == numpy_top(vectors, queries, depth)[:, 0]).all()
                faiss_us = _per_call_us(lambda: index.search(queries, depth))  # noqa: B023
                numpy_us = _per_call_us(lambda: numpy_top(vectors, queries, depth))  # noqa: B023
                row = {
                    "slots": n,
                    "queries": nq,
                    "depth": depth,
                    "faiss_us": round(faiss_us, 1),
                    "numpy_us": round(numpy_us, 1),
                    "faster": "faiss" if faiss_us <= numpy_us else "numpy",
                }
                log(str(row))
                rows.append(row)
    finally:
        faiss.omp_set_num_threads(previous)
    result = {
        "results": rows,
        "faster_everywhere": sorted({r["faster"] for r in rows}),
        "config": {"dim": DIM, "threads": 1, "sizes": list(SIZES), "queries": list(QUERIES)},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average": list(os.getloadavg()),
        },
    }
    write_json_atomic(out, result)
    return result
