"""Data drift: today's interactions and feature distributions against a reference window.

Both come from the warehouse, never from the raw files: what drifts is what the model trains on.

- interactions: the user × slot × day play rows played on the run day (play seconds, sessions,
  stakes, and the slot's theme and volatility) against the `reference_days` before it;
- user features: the feature snapshot of the run day (`user_features`, 30-day windows) against
  the snapshots of the `reference_days` before it.

Evidently's `DataDriftPreset` measures each column. Above `SMALL_SAMPLE_ROWS` rows on either
side it uses a distance that does not grow with the sample size (normed Wasserstein for numbers,
Jensen-Shannon for categories; a p-value test would flag any difference at a casino's volumes),
and a column drifts when the distance reaches `DISTANCE_THRESHOLD`. On smaller samples a
distance is mostly sampling noise, so it uses tests that account for the sample size
(Kolmogorov-Smirnov, chi-square; drift when p < `P_VALUE_THRESHOLD`), as Evidently's own defaults
do. The data set drifts when at least `DATASET_DRIFT_SHARE` of its columns do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

DATASET_DRIFT_SHARE = 0.5
SMALL_SAMPLE_ROWS = 1000
# (numerical method, categorical method, threshold, whether the value is a p-value)
DISTANCE_METHODS = ("wasserstein", "jensenshannon", 0.1, False)
P_VALUE_METHODS = ("ks", "chisquare", 0.05, True)
DISTANCE_THRESHOLD = DISTANCE_METHODS[2]
P_VALUE_THRESHOLD = P_VALUE_METHODS[2]
# Evidently's cost grows with rows; a seeded sample this large estimates the distances well.
MAX_ROWS = 50_000


@dataclass(frozen=True)
class DriftInput:
    """A current and a reference frame plus the columns to compare."""

    name: str
    current: pd.DataFrame
    reference: pd.DataFrame
    numerical: list[str]
    categorical: list[str]


def query_window(
    warehouse: Path, query: str, day_column: str, as_of: date, reference_days: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run `query` (two `?`: first and last day) over `as_of − reference_days`..`as_of`.

    Returns:
        The rows of `as_of` and the rows of the days before it, without `day_column`.
    """
    start = as_of - timedelta(days=reference_days)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        frame = con.execute(query, [start, as_of]).df()
    is_today = pd.to_datetime(frame.pop(day_column)).dt.date == as_of
    return frame[is_today].reset_index(drop=True), frame[~is_today].reset_index(drop=True)


INTERACTIONS_QUERY = """
    select
        days.played_on,
        days.play_seconds,
        days.session_count,
        days.bet_amount,
        days.play_seconds / nullif(days.session_count, 0) as seconds_per_session,
        slots.theme,
        slots.volatility
    from user_slot_days as days
    left join slots on days.slot_id = slots.slot_id
    where days.played_on between ? and ? and days.play_seconds > 0
    """


def interaction_frames(warehouse: Path, as_of: date, reference_days: int) -> DriftInput:
    """Play rows of the run day vs the `reference_days` before it."""
    current, reference = query_window(
        warehouse, INTERACTIONS_QUERY, "played_on", as_of, reference_days
    )
    return DriftInput(
        "interactions",
        current,
        reference,
        ["play_seconds", "session_count", "bet_amount", "seconds_per_session"],
        ["theme", "volatility"],
    )


def feature_frames(warehouse: Path, as_of: date, reference_days: int) -> DriftInput:
    """The run day's user feature snapshot vs the snapshots of the days before it."""
    numerical = [
        "play_seconds_30d",
        "active_days_30d",
        "session_count_30d",
        "avg_session_seconds_30d",
        "stake_per_minute_30d",
    ]
    query = f"""
        select snapshot_on, {", ".join(numerical)}, segment
        from user_features
        where snapshot_on between ? and ?
    """
    current, reference = query_window(warehouse, query, "snapshot_on", as_of, reference_days)
    return DriftInput("user_features", current, reference, numerical, ["segment"])


def _sample(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sample(MAX_ROWS, random_state=0) if len(frame) > MAX_ROWS else frame


def drift_report(data: DriftInput) -> tuple[Any, dict[str, Any]]:
    """Run Evidently's data drift preset on one input.

    Returns:
        The Evidently snapshot (None when either side is empty) and a summary: rows on each
        side, columns compared, each column's distance, the drifted columns and `is_drifted`.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    summary: dict[str, Any] = {
        "current_rows": len(data.current),
        "reference_rows": len(data.reference),
    }
    if data.current.empty or data.reference.empty:
        side = "current" if data.current.empty else "reference"
        summary["note"] = f"no {side} rows: drift not measured"
        return None, summary
    definition = DataDefinition(
        numerical_columns=data.numerical, categorical_columns=data.categorical
    )
    columns = [*data.numerical, *data.categorical]
    small = min(len(data.current), len(data.reference)) <= SMALL_SAMPLE_ROWS
    num_method, cat_method, threshold, is_p_value = P_VALUE_METHODS if small else DISTANCE_METHODS
    report = Report(
        [
            DataDriftPreset(
                columns=columns,
                num_method=num_method,
                cat_method=cat_method,
                threshold=threshold,
                drift_share=DATASET_DRIFT_SHARE,
            )
        ]
    )
    snapshot = report.run(
        current_data=Dataset.from_pandas(
            _sample(data.current[columns]), data_definition=definition
        ),
        reference_data=Dataset.from_pandas(
            _sample(data.reference[columns]), data_definition=definition
        ),
    )
    scores = {
        metric["config"]["column"]: float(metric["value"])
        for metric in snapshot.dict()["metrics"]
        if metric["config"]["type"].endswith(":ValueDrift")
    }
    drifted = sorted(
        c for c, v in scores.items() if (v < threshold if is_p_value else v >= threshold)
    )
    summary.update(
        {
            "columns": len(columns),
            "methods": {"numerical": num_method, "categorical": cat_method},
            "scores": scores,
            "score_is_p_value": is_p_value,
            "drifted_columns": drifted,
            "drift_share": len(drifted) / len(columns),
            "is_drifted": len(drifted) / len(columns) >= DATASET_DRIFT_SHARE,
            "threshold": threshold,
        }
    )
    return snapshot, summary
