"""`slotrec bench risk`: how well the player_risk mart finds the simulator's at-risk players.

Simulates a world (default 5,000 players x 200 slots x 14 days, 3% at risk), runs the dbt
backfill and the Feast load, then compares the last day's `risk_level != 'none'` with the
simulator's hidden `is_at_risk` flag. Recall is measured over the at-risk players the snapshot
can see (a session in its 10-day window: a player who did not play cannot be judged) and, for
reference, over every at-risk player; precision over the flagged players. Per pattern and per
signal figures say which rule finds what. Writes `benchmarks/results/risk_detection.json`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb

from slotrec import transform
from slotrec.core.atomic import write_json_atomic
from slotrec.core.settings import get_settings
from slotrec.transform import RISK_RULE_SETTINGS

SIGNALS = ("has_long_sessions", "has_late_night_play", "has_loss_chasing", "has_escalating_play")
PATTERNS = ("long_sessions", "late_night", "loss_chasing", "escalating")


@dataclass(frozen=True)
class RiskBenchConfig:
    """Size and seed of the simulated world."""

    players: int = 5_000
    slots: int = 200
    days: int = 14
    seed: int = 11
    at_risk_share: float = 0.03
    start: date = date(2026, 1, 1)
    work_dir: Path | None = None


def run_risk_bench(
    config: RiskBenchConfig, out: Path, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run the measurement, write the result JSON to `out`, and return it."""
    from feature_repo import store as feature_store
    from slotrec.simulator import SimulationConfig, simulate_world

    scratch = config.work_dir or Path(tempfile.mkdtemp(prefix="slotrec-bench-risk-"))
    settings = get_settings(data_dir=scratch)
    first = config.start
    last = first + timedelta(days=config.days - 1)
    try:
        log(f"simulating {config.players:,} players x {config.slots} slots x {config.days} days")
        simulate_world(
            SimulationConfig(
                seed=config.seed,
                n_players=config.players,
                n_slots=config.slots,
                days=config.days,
                start_date=first,
                at_risk_share=config.at_risk_share,
            ),
            settings.layout,
        )
        build = transform.build(settings, last, first)
        log(f"dbt build (backfill) {build.seconds:.1f}s")
        started = time.perf_counter()
        feature_store.export_feature_tables(settings)
        store = feature_store.open_store(settings)
        feature_store.apply_definitions(store, settings)
        materialized = feature_store.materialize(store, settings, last)
        features_seconds = time.perf_counter() - started
        figures = detection_figures(settings.layout.warehouse_path, settings.layout.truth_dir, last)
        # the online store must serve what the mart says, for a flagged player if there is one
        online = _online_check(store, settings.layout.warehouse_path, last)
    finally:
        if config.work_dir is None:
            shutil.rmtree(scratch, ignore_errors=True)
    result = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average": os.getloadavg()[0],
        "config": {**asdict(config), "start": first.isoformat(), "work_dir": None},
        "snapshot_on": last.isoformat(),
        "thresholds": {name: getattr(settings, name) for name in RISK_RULE_SETTINGS},
        "dbt_build_seconds": round(build.seconds, 1),
        "feast_seconds": round(features_seconds, 1),
        "online_rows_written": materialized.rows_by_view.get("player_risk"),
        "online_check": online,
        **figures,
    }
    write_json_atomic(out, result)
    log(
        f"recall {figures['recall']:.3f} (visible at-risk players), precision "
        f"{figures['precision']:.3f} → {out}"
    )
    return result


def detection_figures(warehouse: Path, truth_dir: Path, day: date) -> dict[str, Any]:
    """Recall and precision of `risk_level != 'none'` on `day` against the truth flag."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute(
            "create temp table truth as select user_id, is_at_risk, risk_patterns "
            f"from read_parquet('{truth_dir / 'players.parquet'}')"
        )
        con.execute(
            "create temp table snap as select * from player_risk where snapshot_on = ?", [day]
        )
        joined = "truth left join snap using (user_id)"

        def one(sql: str) -> Any:
            row = con.execute(sql).fetchone()
            return row[0] if row else None

        at_risk = one(f"select count(*) from {joined} where is_at_risk")
        seen = "snap.user_id is not null"
        visible = one(f"select count(*) from {joined} where is_at_risk and {seen}")
        flagged = "coalesce(risk_level, 'none') <> 'none'"
        hits = one(f"select count(*) from {joined} where is_at_risk and {flagged}")
        flagged_n = one(f"select count(*) from {joined} where {flagged}")
        high_hits = one(f"select count(*) from {joined} where is_at_risk and risk_level = 'high'")
        high_n = one(f"select count(*) from {joined} where risk_level = 'high'")
        players_in_snapshot = one("select count(*) from snap")
        by_pattern = {
            pattern: {
                "players": one(
                    f"select count(*) from {joined} where snap.user_id is not null "
                    f"and risk_patterns like '%{pattern}%'"
                ),
                "recall": one(
                    f"select avg(case when {flagged} then 1.0 else 0.0 end) from {joined} "
                    f"where snap.user_id is not null and risk_patterns like '%{pattern}%'"
                ),
            }
            for pattern in PATTERNS
        }
        by_signal = {
            signal: {
                "share_of_at_risk": one(
                    f"select avg(case when {signal} then 1.0 else 0.0 end) from {joined} "
                    "where is_at_risk and snap.user_id is not null"
                ),
                "share_of_others": one(
                    f"select avg(case when {signal} then 1.0 else 0.0 end) from {joined} "
                    "where not is_at_risk and snap.user_id is not null"
                ),
            }
            for signal in SIGNALS
        }
        levels = dict(
            con.execute(
                "select risk_level || case when is_at_risk then ':at_risk' else ':other' end, "
                f"count(*) from {joined} where snap.user_id is not null group by 1 order by 1"
            ).fetchall()
        )
    return {
        "players_in_snapshot": players_in_snapshot,
        "at_risk_players": at_risk,
        "at_risk_players_visible": visible,
        "flagged_players": flagged_n,
        "true_positives": hits,
        "recall": round(hits / visible, 4) if visible else None,
        "recall_all_at_risk": round(hits / at_risk, 4) if at_risk else None,
        "precision": round(hits / flagged_n, 4) if flagged_n else None,
        "high_precision": round(high_hits / high_n, 4) if high_n else None,
        "high_recall": round(high_hits / visible, 4) if visible else None,
        "levels": levels,
        "by_pattern": {
            p: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in f.items()}
            for p, f in by_pattern.items()
        },
        "by_signal": {
            s: {k: round(v, 4) if v is not None else None for k, v in f.items()}
            for s, f in by_signal.items()
        },
    }


def _online_check(store: Any, warehouse: Path, day: date) -> dict[str, Any]:
    """Read one flagged player's level back from the online store."""
    from feature_repo.feature_services import RISK_PROFILE

    with duckdb.connect(str(warehouse), read_only=True) as con:
        row = con.execute(
            "select user_id, risk_level from player_risk where snapshot_on = ? "
            "order by risk_level = 'none', user_id limit 1",
            [day],
        ).fetchone()
    if row is None:
        return {"user_id": None}
    online = store.get_online_features(
        features=store.get_feature_service(RISK_PROFILE), entity_rows=[{"user_id": row[0]}]
    ).to_dict()
    return {"user_id": row[0], "mart": row[1], "online": online["risk_level"][0]}
