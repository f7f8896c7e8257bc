"""`slotrec bench data`: the batch data layer at scale.

Simulates a world (default 100,000 players x 3,000 slots x 30 days, about 10M raw events), runs
the dbt transform as one backfill and the Feast load, then times many single-player online
reads. Writes `benchmarks/results/data.json`.
"""

from __future__ import annotations

import os
import platform
import random
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from slotrec import ingest, transform
from slotrec.core.atomic import write_json_atomic
from slotrec.core.settings import get_settings


@dataclass(frozen=True)
class DataBenchConfig:
    """Size of the simulated world and of the online read sample."""

    players: int = 100_000
    slots: int = 3_000
    days: int = 30
    seed: int = 11
    online_reads: int = 2_000
    start: date = date(2026, 1, 1)
    work_dir: Path | None = None


def _peak_rss_mb() -> dict[str, float]:
    """Peak resident memory of this process and of its largest child (dbt), in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"self": round(own, 1), "children": round(child, 1)}


def run_data_bench(
    config: DataBenchConfig, out: Path, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run the benchmark, write the result JSON to `out`, and return it."""
    from feature_repo import store as feature_store
    from feature_repo.feature_services import USER_PROFILE
    from slotrec.simulator import SimulationConfig, simulate_world

    scratch = config.work_dir or Path(tempfile.mkdtemp(prefix="slotrec-bench-data-"))
    settings = get_settings(data_dir=scratch)
    layout = settings.layout
    first = config.start
    last = first + timedelta(days=config.days - 1)
    load_before = os.getloadavg()
    try:
        log(f"simulating {config.players:,} players x {config.slots:,} slots x {config.days} days")
        started = time.perf_counter()
        simulate_world(
            SimulationConfig(
                seed=config.seed,
                n_players=config.players,
                n_slots=config.slots,
                days=config.days,
                start_date=first,
            ),
            layout,
        )
        simulate_seconds = time.perf_counter() - started
        checked = ingest.check_event_days(layout, ingest.days_between(first, last))
        events = sum(d.rows for d in checked)
        # Every build after a data directory's first reuses dbt's parse cache (the run window
        # travels in the environment, which changes no parse); a parse stands in for that
        # earlier run here and is timed on its own.
        cold_parse_seconds = transform.parse(settings, first)
        log(
            f"simulated {events:,} raw events in {simulate_seconds:.0f}s; dbt parse (cold) "
            f"{cold_parse_seconds:.1f}s; dbt build backfill"
        )

        result = transform.build(settings, last, first)
        profile = transform.last_build_profile(settings)
        log(f"dbt build: {result.seconds:.1f}s ({events / result.seconds:,.0f} events/s)")

        started = time.perf_counter()
        exported = feature_store.export_feature_tables(settings)
        store = feature_store.open_store(settings)
        feature_store.apply_definitions(store, settings)
        materialized = feature_store.materialize(store, settings, last)
        features_seconds = time.perf_counter() - started
        log(f"feast export+apply+materialize: {features_seconds:.1f}s")

        with duckdb.connect(str(layout.warehouse_path), read_only=True) as con:
            users = [
                r[0]
                for r in con.execute(
                    "select user_id from user_features where feature_timestamp = "
                    "(select max(feature_timestamp) from user_features)"
                ).fetchall()
            ]
        rng = random.Random(config.seed)
        service = store.get_feature_service(USER_PROFILE)
        # Warm up: the first reads open the SQLite file and build Feast's caches.
        for user_id in users[:20]:
            store.get_online_features(features=service, entity_rows=[{"user_id": user_id}])
        latencies = []
        for _ in range(config.online_reads):
            user_id = rng.choice(users)
            t0 = time.perf_counter()
            store.get_online_features(
                features=service, entity_rows=[{"user_id": user_id}]
            ).to_dict()
            latencies.append((time.perf_counter() - t0) * 1000)
        lat = np.array(latencies)

        payload: dict[str, Any] = {
            "config": {**asdict(config), "start": first.isoformat(), "work_dir": str(scratch)},
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            # 1 / 5 / 15-minute load averages: other work on the machine shows up here
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "events": events,
            "simulate_seconds": round(simulate_seconds, 2),
            "transform_seconds": round(result.seconds, 2),
            "events_per_second": round(events / result.seconds),
            "dbt_models": result.models,
            "dbt_tests": result.tests,
            # transform_seconds is the operator's end-to-end wait with the parse cache of an
            # earlier run; dbt_run_seconds leaves out dbt's start-up and (partial) parse
            "dbt_run_seconds": profile.run_seconds,
            "dbt_startup_and_parse_seconds": round(result.seconds - profile.run_seconds, 2),
            # what the first build in a new data directory pays on top: `dbt parse` from
            # scratch, start-up included
            "dbt_cold_parse_seconds": round(cold_parse_seconds, 2),
            "dbt_slowest_nodes_seconds": profile.slowest_nodes,
            "features_seconds": round(features_seconds, 2),
            "feature_rows_exported": exported,
            "online_rows_written": materialized.rows_by_view,
            "online_reads": config.online_reads,
            "online_read_p50_ms": round(float(np.percentile(lat, 50)), 3),
            "online_read_p99_ms": round(float(np.percentile(lat, 99)), 3),
            "peak_rss_mb": max(_peak_rss_mb().values()),
            "peak_rss_mb_by_process": _peak_rss_mb(),
            "warehouse_mb": round(layout.warehouse_path.stat().st_size / 2**20, 1),
        }
        write_json_atomic(out, payload)
        return payload
    finally:
        if config.work_dir is None:
            shutil.rmtree(scratch, ignore_errors=True)
