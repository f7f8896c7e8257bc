"""Live-state latency on the two Feast online stores: SQLite (default) against Redis.

`LiveStateStore.record()` of one heartbeat (lock, read, apply, push, queue for the raw files) and
`state()` of one player, `calls` times each, over a store already holding `players` players. The
same code runs on both backends; only `SLOTREC_ONLINE_STORE` differs, so the gap is the store and
its lock (SQLite: a file lock on the host and one SQLite commit; Redis: SET NX / a Lua release
around one pipelined HMGET and one HSET, over loopback TCP). The Redis is a local `redis-server`
started the way `slotrec redis start` starts it (append-only file, fsync every second).

    python -m benchmarks.online_store_bench [--calls 2000] [--players 2000] [--out FILE]

writes `benchmarks/results/online_store.json`.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from bentos.realtime import LiveStateStore, PlayEvent
from slotrec.core.atomic import write_json_atomic
from slotrec.core.settings import REPO_ROOT, Settings
from slotrec.redis_server import redis_server_binary, start_redis_server
from slotrec.service_process import free_port

DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "online_store.json"
WARMUP_CALLS = 50


def _summary(seconds: list[float]) -> dict[str, float]:
    us = np.asarray(seconds) * 1e6
    return {
        "calls": len(us),
        "p50_us": round(float(np.percentile(us, 50)), 1),
        "p99_us": round(float(np.percentile(us, 99)), 1),
        "mean_us": round(float(us.mean()), 1),
        "max_us": round(float(us.max()), 1),
    }


def _event(n: int, user: str, kind: str = "heartbeat") -> PlayEvent:
    return PlayEvent(
        event_id=f"bench-{n}",
        user_id=user,
        slot_id=f"s{n % 200:03d}",
        session_id=f"{user}-session",
        event_type=kind,  # type: ignore[arg-type]
        occurred_at=datetime.now(UTC),
        duration_seconds=0.0 if kind == "session_start" else 1.0,
    )


def _timed(call: Callable[[int], object], calls: int) -> list[float]:
    for n in range(WARMUP_CALLS):
        call(n)
    times = []
    for n in range(calls):
        started = time.perf_counter()
        call(WARMUP_CALLS + n)
        times.append(time.perf_counter() - started)
    return times


def bench_backend(settings: Settings, players: int, calls: int, seed: int) -> dict[str, Any]:
    """Fill one backend with `players` players, then time `calls` record() and state() calls."""
    store = LiveStateStore(settings)
    try:
        users = [f"u{i:07d}" for i in range(players)]
        started = time.perf_counter()
        for first in range(0, players, 100):
            batch = users[first : first + 100]
            store.record([_event(i, u, "session_start") for i, u in enumerate(batch)])
        fill_seconds = time.perf_counter() - started
        rng = random.Random(seed)
        picks = [rng.choice(users) for _ in range(WARMUP_CALLS + calls)]
        record = _timed(lambda n: store.record([_event(10**6 + n, picks[n])]), calls)
        state = _timed(lambda n: store.state(picks[n]), calls)
        assert store.state(picks[0]).current_slot_seconds > 0  # the writes landed
        return {
            "fill_seconds": round(fill_seconds, 2),
            "record": _summary(record),
            "state": _summary(state),
        }
    finally:
        store.close()


def _redis_memory(port: int) -> dict[str, int]:
    """Keys and bytes the Redis at `port` holds."""
    import redis

    client: Any = redis.Redis(port=port)  # typed as sync-or-async; this one is sync
    try:
        return {
            "keys": int(client.dbsize()),
            "used_memory_bytes": int(client.info()["used_memory"]),
        }
    finally:
        client.close()


def run_online_store_bench(
    out: Path = DEFAULT_OUT,
    *,
    calls: int = 2000,
    players: int = 2000,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Time both backends and write the result to `out` (see the module docstring)."""
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    root = Path(tempfile.mkdtemp(prefix="slotrec-bench-online-"))
    port = free_port()
    redis_dir = root / "redis"
    server = start_redis_server(port, redis_dir, persist=True)
    try:
        empty = _redis_memory(port)["used_memory_bytes"]
        results: dict[str, Any] = {}
        backends = {
            "sqlite": Settings(data_dir=root / "sqlite"),
            "redis": Settings(
                data_dir=root / "redis-host",
                online_store="redis",
                redis_url=f"redis://127.0.0.1:{port}/0",
            ),
        }
        for name, settings in backends.items():
            log(f"{name}: {players} players, {calls} record() and {calls} state() calls")
            results[name] = bench_backend(settings, players, calls, seed)
            log(f"{name}: {results[name]}")
        # each player's state at full history (every player got heartbeats and event ids)
        memory = _redis_memory(port)
        memory["bytes_per_player"] = round((memory["used_memory_bytes"] - empty) / players)
        results["redis"]["memory"] = memory
    finally:
        server.terminate()
        server.wait(timeout=10)
    redis_version = subprocess.run(
        [redis_server_binary(), "--version"], capture_output=True, text=True, check=False
    ).stdout.split()
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "players": players,
        "calls": calls,
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
            "feast": version("feast"),
            "redis_py": version("redis"),
            "redis_server": next((w for w in redis_version if w.startswith("v=")), "?")[2:],
        },
        "backends": results,
    }
    write_json_atomic(out, result)
    return result


def main() -> None:
    """Command line: `python -m benchmarks.online_store_bench`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--players", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    if args.calls < 1 or args.players < 1:
        parser.error("--calls and --players must be at least 1")
    run_online_store_bench(args.out, calls=args.calls, players=args.players)


if __name__ == "__main__":
    main()
