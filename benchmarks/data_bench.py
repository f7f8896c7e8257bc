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
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np

from slotrec import ingest, transform
from slotrec.core.atomic import write_json_atomic
from slotrec.core.settings import Settings, get_settings

if TYPE_CHECKING:
    from feast import FeatureStore

    from feature_repo.store import MaterializeResult

Log = Callable[[str], None]


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


def _latest_users(settings: Settings) -> list[str]:
    """The players of the warehouse's latest feature snapshot: the ones the reads ask for."""
    with duckdb.connect(str(settings.layout.warehouse_path), read_only=True) as con:
        return [
            r[0]
            for r in con.execute(
                "select user_id from user_features where feature_timestamp = "
                "(select max(feature_timestamp) from user_features)"
            ).fetchall()
        ]


@dataclass
class _DataRun:
    """One run of the benchmark: its steps, in order, and what each measured.

    Each step keeps its figures for `payload`; a figure is only there once its step ran
    (`simulate`, `run_dbt`, `load_features`, `time_online_reads`, in that order).
    """

    config: DataBenchConfig
    settings: Settings
    log: Log
    events: int = field(init=False)
    simulate_seconds: float = field(init=False)
    cold_parse_seconds: float = field(init=False)
    build: transform.TransformResult = field(init=False)
    profile: transform.BuildProfile = field(init=False)
    features_seconds: float = field(init=False)
    exported: dict[str, int] = field(init=False)
    materialized: MaterializeResult = field(init=False)
    latencies_ms: np.ndarray = field(init=False)

    @property
    def first(self) -> date:
        """The first simulated day."""
        return self.config.start

    @property
    def last(self) -> date:
        """The last simulated day: the run date of the backfill and of the materialization."""
        return self.config.start + timedelta(days=self.config.days - 1)

    def simulate(self) -> None:
        """Simulate the world into the data directory and count the raw events delivered."""
        from slotrec.simulator import SimulationConfig, simulate_world

        config = self.config
        self.log(
            f"simulating {config.players:,} players x {config.slots:,} slots x {config.days} days"
        )
        started = time.perf_counter()
        simulate_world(
            SimulationConfig(
                seed=config.seed,
                n_players=config.players,
                n_slots=config.slots,
                days=config.days,
                start_date=self.first,
            ),
            self.settings.layout,
        )
        self.simulate_seconds = time.perf_counter() - started
        checked = ingest.check_event_days(
            self.settings.layout, ingest.days_between(self.first, self.last)
        )
        self.events = sum(d.rows for d in checked)

    def run_dbt(self) -> None:
        """Time a cold `dbt parse`, then the whole window's `dbt build` as one backfill."""
        # Every build after a data directory's first reuses dbt's parse cache (the run window
        # travels in the environment, which changes no parse); a parse stands in for that
        # earlier run here and is timed on its own.
        self.cold_parse_seconds = transform.parse(self.settings, self.first)
        self.log(
            f"simulated {self.events:,} raw events in {self.simulate_seconds:.0f}s; dbt parse "
            f"(cold) {self.cold_parse_seconds:.1f}s; dbt build backfill"
        )
        self.build = transform.build(self.settings, self.last, self.first)
        self.profile = transform.last_build_profile(self.settings)
        seconds = self.build.seconds
        self.log(f"dbt build: {seconds:.1f}s ({self.events / seconds:,.0f} events/s)")

    def load_features(self) -> FeatureStore:
        """Export the feature marts, apply the Feast definitions, materialize the last day.

        Returns:
            The feature store, open, for the online reads.
        """
        from feature_repo import store as feature_store

        started = time.perf_counter()
        self.exported = feature_store.export_feature_tables(self.settings)
        store = feature_store.open_store(self.settings)
        feature_store.apply_definitions(store, self.settings)
        self.materialized = feature_store.materialize(store, self.settings, self.last)
        self.features_seconds = time.perf_counter() - started
        self.log(f"feast export+apply+materialize: {self.features_seconds:.1f}s")
        return store

    def time_online_reads(self, store: FeatureStore, users: list[str]) -> None:
        """Time `config.online_reads` single-player online reads of random `users` (in ms)."""
        from feature_repo.feature_services import USER_PROFILE

        rng = random.Random(self.config.seed)
        service = store.get_feature_service(USER_PROFILE)
        # Warm up: the first reads open the SQLite file and build Feast's caches.
        for user_id in users[:20]:
            store.get_online_features(features=service, entity_rows=[{"user_id": user_id}])
        latencies = []
        for _ in range(self.config.online_reads):
            user_id = rng.choice(users)
            t0 = time.perf_counter()
            store.get_online_features(
                features=service, entity_rows=[{"user_id": user_id}]
            ).to_dict()
            latencies.append((time.perf_counter() - t0) * 1000)
        self.latencies_ms = np.array(latencies)

    def payload(self, scratch: Path, load_before: tuple[float, float, float]) -> dict[str, Any]:
        """The result JSON: the run's configuration, machine, and every figure it measured.

        Args:
            scratch: The data directory the world was written to.
            load_before: The load averages when the run started.
        """
        config, events, result, profile = self.config, self.events, self.build, self.profile
        lat = self.latencies_ms
        return {
            "config": {**asdict(config), "start": self.first.isoformat(), "work_dir": str(scratch)},
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            # 1 / 5 / 15-minute load averages: other work on the machine shows up here
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "events": events,
            "simulate_seconds": round(self.simulate_seconds, 2),
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
            "dbt_cold_parse_seconds": round(self.cold_parse_seconds, 2),
            "dbt_slowest_nodes_seconds": profile.slowest_nodes,
            "features_seconds": round(self.features_seconds, 2),
            "feature_rows_exported": self.exported,
            "online_rows_written": self.materialized.rows_by_view,
            "online_reads": config.online_reads,
            "online_read_p50_ms": round(float(np.percentile(lat, 50)), 3),
            "online_read_p99_ms": round(float(np.percentile(lat, 99)), 3),
            "peak_rss_mb": max(_peak_rss_mb().values()),
            "peak_rss_mb_by_process": _peak_rss_mb(),
            "warehouse_mb": round(self.settings.layout.warehouse_path.stat().st_size / 2**20, 1),
        }


def run_data_bench(
    config: DataBenchConfig, out: Path, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run the benchmark, write the result JSON to `out`, and return it."""
    scratch = config.work_dir or Path(tempfile.mkdtemp(prefix="slotrec-bench-data-"))
    settings = get_settings(data_dir=scratch)
    load_before = os.getloadavg()
    try:
        run = _DataRun(config, settings, log)
        run.simulate()
        run.run_dbt()
        store = run.load_features()
        run.time_online_reads(store, _latest_users(settings))
        payload = run.payload(scratch, load_before)
        write_json_atomic(out, payload)
        return payload
    finally:
        if config.work_dir is None:
            shutil.rmtree(scratch, ignore_errors=True)
