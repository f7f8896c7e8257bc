"""`slotrec bench serve`: a real `bentoml serve` process under a bounded load on loopback.

The world is built through the real pipeline (simulate → dbt → Feast → `run_training`, with
the epochs capped so the bundle trains in minutes), once per work directory; then the service
is started as operators start it and loaded at each concurrency, for `recommend` and for the
service's no-op endpoint (the ceiling of this server on this machine), plus the freshness of
the real-time layer. The load comes from `wrk` when it is installed (a fixed number of seconds
per level; `benchmarks/wrk_load.py`), else from an asyncio/aiohttp generator (a fixed number of
requests per level), which on two cores takes about as much CPU per request as the service.

Freshness is the time from an `events` call returning to the return of the first `recommend`
that reflects it (the slot just played is gone from the list); it includes that recommend's own
latency.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import numpy as np

from benchmarks.wrk_load import run_wrk, wrk_available
from slotrec.atomic import write_json_atomic
from slotrec.service_process import start_service, stop_service, workers_for
from slotrec.settings import Settings, get_settings

Log = Callable[[str], None]


@dataclass
class ServeBenchConfig:
    """What the benchmark builds and how hard it pushes."""

    players: int = 100_000
    slots: int = 3_000
    days: int = 14
    seed: int = 11
    start: date = date(2026, 1, 1)
    epochs: int = 4
    work_dir: Path | None = None
    requests: int = 3_000  # per endpoint and concurrency level (the Python generator)
    seconds: int = 15  # per endpoint and concurrency level (wrk)
    generator: str = "auto"  # "wrk" (when installed: "auto"), or "python"
    concurrency: tuple[int, ...] = (1, 8, 32)
    workers: int = field(default_factory=workers_for)  # one per CPU core
    k: int = 10
    cold_share: float = 0.1  # share of requests for players the model has never seen
    freshness_trials: int = 20
    extra: dict[str, Any] = field(default_factory=dict)


def prepare_world(config: ServeBenchConfig, log: Log = print) -> Settings:
    """Build (or reuse) the world and a promoted bundle under the work directory."""
    from feature_repo import store as feature_store
    from slotrec import transform
    from slotrec.simulator import SimulationConfig, simulate_world
    from training.promotion import PromotionRegistry

    work = config.work_dir or Path(tempfile.mkdtemp(prefix="slotrec-bench-serve-"))
    settings = get_settings(data_dir=work)
    os.environ["BENTOML_HOME"] = str(settings.layout.bentoml_home)
    registry = PromotionRegistry(settings.layout.promoted_path)
    if registry.current is not None:
        log(f"reusing the world and bundle {registry.current} in {work}")
        return settings
    last = config.start + timedelta(days=config.days - 1)
    if not settings.layout.warehouse_path.exists():
        log(f"simulating {config.players:,} players x {config.slots:,} slots x {config.days} days")
        simulate_world(
            SimulationConfig(
                seed=config.seed,
                n_players=config.players,
                n_slots=config.slots,
                days=config.days,
                start_date=config.start,
            ),
            settings.layout,
        )
        log("dbt build")
        transform.build(settings, last, config.start)
        log("feast export + apply + materialize")
        feature_store.export_feature_tables(settings)
        store = feature_store.open_store(settings)
        feature_store.apply_definitions(store)
        feature_store.materialize(store, settings, last)
    log(f"training NeuMF (at most {config.epochs} epochs)")
    tag = train_serving_bundle(settings, last, config.epochs)
    registry.promote(tag, {"promoted_by": "bench serve"})
    return settings


def train_serving_bundle(settings: Settings, as_of: date, epochs: int) -> str:
    """Train NeuMF on the warehouse and save a bundle with the daily retrain's own pieces.

    The daily retrain (`run_training`) also fits and evaluates three baselines over every test
    player, which on this world takes longer than the whole serving benchmark; serving needs
    none of it, so this trains NeuMF on the same split, builds the same index and metadata
    model (`assemble_bundle`) and saves the same `Bundle`, with NeuMF's validation metrics only.
    """
    from training.data import load_slotrec_data
    from training.models import NeuMF
    from training.pipeline import assemble_bundle, fit_batch_size, slotrec_train_config
    from training.trainer import train_model

    data = load_slotrec_data(settings, as_of, with_feast=False)
    split = data.split
    config = fit_batch_size(slotrec_train_config(epochs=epochs), len(split.train))
    result = train_model(
        "neumf", split.train, split.valid, config, n_users=split.n_users, n_items=split.n_items
    )
    assert isinstance(result.model, NeuMF)
    best = [e.valid for e in result.history if e.epoch == result.best_epoch and e.valid]
    valid = best[0] if best else {}
    metrics = {
        "validation": {"neumf": {"ndcg10": float(valid.get("ndcg10", 0.0))}},
        "training": {"best_epoch": result.best_epoch, "seconds": round(result.seconds, 1)},
        "note": "bench serve bundle: NeuMF only, no baselines evaluated",
    }
    bundle = assemble_bundle(result.model, data, metrics, config)
    return bundle.save()


def start_server(settings: Settings, workers: int, log_path: Path) -> tuple[subprocess.Popen, str]:
    """`bentoml serve` on a free loopback port; returns the process and its base URL."""
    env = {
        "SLOTREC_DATA_DIR": str(settings.data_dir),
        "BENTOML_HOME": str(settings.layout.bentoml_home),
        "SLOTREC_SERVE_WORKERS": str(workers),
    }
    return start_service(env, log_path)


async def _load(
    url: str, path: str, bodies: list[dict[str, Any]], concurrency: int
) -> dict[str, float]:
    """Send every body once with `concurrency` requests in flight; latency percentiles, rps."""
    import aiohttp

    latencies: list[float] = []
    errors = 0
    queue = iter(bodies)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url=url, connector=connector) as session:

        async def worker() -> None:
            nonlocal errors
            for body in queue:
                started = time.perf_counter()
                try:
                    async with session.post(path, json=body) as response:
                        await response.read()
                        ok = response.status == 200
                except aiohttp.ClientError:
                    ok = False
                latencies.append((time.perf_counter() - started) * 1000)
                errors += not ok

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    lat = np.array(latencies)
    return {
        "requests": len(bodies),
        "p50_ms": round(float(np.percentile(lat, 50)), 2),
        "p99_ms": round(float(np.percentile(lat, 99)), 2),
        "rps": round(len(bodies) / elapsed, 1),
        "errors": errors,
    }


def _freshness(url: str, users: list[str], trials: int, k: int) -> dict[str, Any]:
    """Milliseconds from `events` returning to a `recommend` without the slot just played."""
    samples = []
    with httpx.Client(base_url=url, timeout=10) as client:
        for trial, user_id in enumerate(users[:trials]):
            listed = client.post("/recommend", json={"user_id": user_id, "k": k}).json()
            slot_id = listed["items"][0]["slot_id"]
            now = datetime.now(UTC)
            event = {
                "event_id": f"bench-fresh-{trial}-{now.timestamp()}",
                "user_id": user_id,
                "slot_id": slot_id,
                "session_id": f"bench-ses-{trial}-{now.timestamp()}",
                "event_type": "session_start",
                "occurred_at": now.isoformat(),
            }
            assert client.post("/events", json={"events": [event]}).status_code == 200
            returned = time.perf_counter()
            while time.perf_counter() - returned < 5:
                again = client.post("/recommend", json={"user_id": user_id, "k": k}).json()
                if slot_id not in {item["slot_id"] for item in again["items"]}:
                    break
            samples.append((time.perf_counter() - returned) * 1000)
    return {
        "trials": len(samples),
        "p50_ms": round(float(np.median(samples)), 2),
        "max_ms": round(float(np.max(samples)), 2),
    }


def run_serve_bench(config: ServeBenchConfig, out: Path, log: Log = print) -> dict[str, Any]:
    """Prepare the world, serve it, load it, write the result JSON to `out`, return it."""
    settings = prepare_world(config, log)
    with duckdb.connect(str(settings.layout.warehouse_path), read_only=True) as con:
        known = [r[0] for r in con.execute("select user_id from users").fetchall()]
    rng = random.Random(config.seed)

    def bodies(n: int) -> list[dict[str, Any]]:
        return [
            {
                "user_id": f"bench-new-{rng.randrange(10**9)}"
                if rng.random() < config.cold_share
                else rng.choice(known),
                "k": config.k,
            }
            for _ in range(n)
        ]

    use_wrk = config.generator == "wrk" or (config.generator == "auto" and wrk_available())

    def load(path: str, payload: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
        if use_wrk:
            return run_wrk(url, path, payload, concurrency, config.seconds)
        return asyncio.run(_load(url, path, payload, concurrency))

    process, url = start_server(settings, config.workers, settings.data_dir / "bench_serve.log")
    try:
        log(f"serving at {url}; warming up; load generator: {'wrk' if use_wrk else 'python'}")
        asyncio.run(_load(url, "/recommend", bodies(300), 4))
        asyncio.run(_load(url, "/noop", [{}] * 300, 4))
        result: dict[str, Any] = {"recommend": {}, "noop": {}}
        for c in config.concurrency:
            for name, path in (("recommend", "/recommend"), ("noop", "/noop")):
                payload = bodies(config.requests) if name == "recommend" else [{}] * config.requests
                result[name][f"c{c}"] = stats = load(path, payload, c)
                log(f"{name} c{c}: {stats}")
        trials = config.freshness_trials
        fresh = _freshness(url, rng.sample(known, trials), trials, config.k)
        log(f"freshness: {fresh}")
    finally:
        stop_service(process)
    c8 = result["recommend"].get("c8")
    noop8 = result["noop"].get("c8")
    summary: dict[str, Any] = {
        **result,
        "freshness_ms": fresh["p50_ms"],
        "freshness": fresh,
        "targets": {
            "recommend_c8_p99_ms_le_20": bool(c8 and c8["p99_ms"] <= 20),
            "recommend_rps_ge_half_noop_c8": bool(c8 and noop8 and c8["rps"] >= noop8["rps"] / 2),
            "freshness_under_1s": fresh["max_ms"] < 1000,
            "zero_errors": all(
                s["errors"] == 0 for level in result.values() for s in level.values()
            ),
        },
        "load_generator": "wrk" if use_wrk else "python (asyncio + aiohttp)",
        "config": {
            **{k: v for k, v in asdict(config).items() if k not in ("work_dir", "start", "extra")},
            "start": config.start.isoformat(),
            "world": "simulated; dbt + Feast; NeuMF on the marts (epochs capped, no baselines)",
        },
        "bundle": json.loads(settings.layout.promoted_path.read_text())["current"],
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average": list(os.getloadavg()),
        },
    }
    write_json_atomic(out, summary)
    return summary
