"""`slotrec bench realtime`: latency of the live-state layer on the real Feast SQLite store.

What the `events` and `recommend` endpoints pay for the live state, without HTTP: `record()` of
one heartbeat (read, apply, push, queue for the raw files) and `state()` / `states()` reads, over
an online store already holding many players. Freshness is the time from `record()` returning in
this process to another process (a second worker, its own `LiveStateStore` on the same data dir)
reading a state that reflects it; it includes one pipe round trip.

One store per process, as in the service: Feast keeps its feature-resolution cache in a module
global keyed by the registry's load time, so two `FeatureStore`s in one process evict each
other's entry on every read (~20 ms a read instead of ~1 ms).
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from bentos.realtime import LiveStateStore, PlayEvent
from slotrec.core.atomic import write_json_atomic
from slotrec.core.settings import Settings


def _summary(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1e3
    return {
        "calls": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "max_ms": round(float(ms.max()), 3),
        "mean_ms": round(float(ms.mean()), 3),
    }


def _heartbeat(n: int, user: str, slot: str) -> PlayEvent:
    return PlayEvent(
        event_id=f"bench-{n}",
        user_id=user,
        slot_id=slot,
        session_id=f"{user}-session",
        event_type="heartbeat",
        occurred_at=datetime.now(UTC),
        duration_seconds=30.0,
    )


def run_realtime_bench(
    out: Path,
    *,
    players: int = 10_000,
    calls: int = 500,
    work_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Fill a live store with `players` players, then time `calls` records and reads each.

    Args:
        out: Result JSON path.
        players: Players given a state before timing (the table size reads run against).
        calls: Timed calls per operation.
        work_dir: Data dir to use (default: a temporary one).
        log: Progress messages.

    Returns:
        The result written to `out`.
    """
    root = work_dir or Path(tempfile.mkdtemp(prefix="slotrec-bench-realtime-"))
    settings = Settings(data_dir=root)
    started = time.perf_counter()
    store = LiveStateStore(settings)
    open_seconds = time.perf_counter() - started
    rng = np.random.default_rng(0)
    users = [f"p{i:07d}" for i in range(players)]
    slots = [f"s{i:05d}" for i in range(3_000)]

    log(f"filling the live state with {players} players")
    batch = 500
    for first in range(0, players, batch):
        store.record(
            [_heartbeat(i, users[i], slots[i % len(slots)]) for i in range(first, first + batch)]
        )

    log(f"timing {calls} record() calls of one heartbeat")
    record_s: list[float] = []
    for n in range(calls):
        event = _heartbeat(players + n, users[rng.integers(players)], slots[rng.integers(3_000)])
        t = time.perf_counter()
        store.record([event])
        record_s.append(time.perf_counter() - t)

    log(f"timing {calls} state() and states(10) calls")
    state_s: list[float] = []
    states_s: list[float] = []
    for _ in range(calls):
        t = time.perf_counter()
        store.state(users[rng.integers(players)])
        state_s.append(time.perf_counter() - t)
        some = [users[i] for i in rng.integers(players, size=10)]
        t = time.perf_counter()
        store.states(some)
        states_s.append(time.perf_counter() - t)

    log("timing freshness: record() here, state() in another worker process")
    fresh_s = _freshness(store, settings, users, rng, min(calls, 200), players)

    store.flush()
    store.close()
    result = {
        "benchmark": "realtime",
        "players_in_store": players,
        "open_seconds": round(open_seconds, 2),
        "record_one_heartbeat": _summary(record_s),
        "state": _summary(state_s),
        "states_10": _summary(states_s),
        "freshness_other_process": _summary(fresh_s),
        "online_store": "feast sqlite (WAL, synchronous=normal)",
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average": list(os.getloadavg()),
        },
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    write_json_atomic(out, result)
    log(f"wrote {out}")
    return result


def _freshness(
    store: LiveStateStore,
    settings: Settings,
    users: list[str],
    rng: np.random.Generator,
    rounds: int,
    offset: int,
) -> list[float]:
    """Seconds from `record()` returning here to a state read in another process showing it."""
    context = multiprocessing.get_context("spawn")
    here, there = context.Pipe()
    reader = context.Process(target=_poll_until_visible, args=(settings.data_dir, there))
    reader.start()
    try:
        if here.recv() != "ready":
            raise RuntimeError("the reader process did not start")
        seconds: list[float] = []
        for n in range(rounds):
            user = users[rng.integers(len(users))]
            slot = f"s-fresh-{n}"
            store.record([_heartbeat(10 * offset + n, user, slot)])
            returned = time.time()
            here.send((user, slot))
            seconds.append(here.recv() - returned)
        here.send(None)
    finally:
        reader.join(timeout=30)
    return seconds


def _poll_until_visible(data_dir: Path, pipe: Connection) -> None:
    """Reader process: for each (user, slot) asked, read until that slot is the newest played."""
    store = LiveStateStore(Settings(data_dir=data_dir))
    store.state("warm-up")
    pipe.send("ready")
    while (asked := pipe.recv()) is not None:
        user, slot = asked
        deadline = time.time() + 5
        while store.state(user).played_slots[:1] != [slot]:
            if time.time() > deadline:
                raise RuntimeError(f"state of {user} not visible to another process after 5 s")
        pipe.send(time.time())
