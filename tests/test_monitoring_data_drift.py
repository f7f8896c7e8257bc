"""Data drift on tiny frames with known drift, and the warehouse queries that feed it."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest

from monitoring.data_drift import DriftInput, drift_report, feature_frames, interaction_frames
from monitoring.snapshots import save_snapshot

RNG = np.random.default_rng(7)
N = 2000


def _frame(shift: float, themes: list[str], p: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "play_seconds": RNG.gamma(2.0, 300.0, N) * (1 + shift),
            "bet_amount": RNG.gamma(2.0, 5.0, N),
            "theme": RNG.choice(themes, N, p=p),
        }
    )


def _input(current: pd.DataFrame, reference: pd.DataFrame) -> DriftInput:
    return DriftInput("tiny", current, reference, ["play_seconds", "bet_amount"], ["theme"])


def test_a_shifted_distribution_is_flagged(tmp_path):
    reference = _frame(0.0, ["egypt", "fishing"], [0.5, 0.5])
    shifted = _frame(1.0, ["egypt", "fishing"], [0.1, 0.9])  # longer play, fishing took over
    snapshot, summary = drift_report(_input(shifted, reference))
    assert summary["drifted_columns"] == ["play_seconds", "theme"]
    assert summary["is_drifted"] is True  # 2 of 3 columns
    assert summary["methods"] == {"numerical": "wasserstein", "categorical": "jensenshannon"}
    assert summary["scores"]["bet_amount"] < 0.1
    files = save_snapshot(snapshot, tmp_path, "data_drift_tiny")
    assert "<html" in (tmp_path / "data_drift_tiny.html").read_text()[:2000].lower()
    assert files["json"].endswith("data_drift_tiny.json")


def test_an_unchanged_distribution_is_not_flagged():
    reference = _frame(0.0, ["egypt", "fishing"], [0.5, 0.5])
    same = _frame(0.0, ["egypt", "fishing"], [0.5, 0.5])
    _, summary = drift_report(_input(same, reference))
    assert summary["drifted_columns"] == []
    assert summary["is_drifted"] is False


def test_small_samples_are_tested_for_significance_not_by_distance():
    reference = _frame(0.0, ["egypt", "fishing"], [0.5, 0.5]).iloc[:150]
    same = _frame(0.0, ["egypt", "fishing"], [0.5, 0.5]).iloc[:150]
    _, summary = drift_report(_input(same, reference))
    assert summary["methods"] == {"numerical": "ks", "categorical": "chisquare"}
    assert summary["score_is_p_value"] is True
    assert summary["drifted_columns"] == []
    shifted = _frame(1.0, ["egypt", "fishing"], [0.1, 0.9]).iloc[:150]
    _, summary = drift_report(_input(shifted, reference))
    assert summary["drifted_columns"] == ["play_seconds", "theme"]


def test_an_empty_side_is_reported_not_measured():
    snapshot, summary = drift_report(
        _input(_frame(0, ["egypt"], [1.0]).iloc[:0], _frame(0, ["egypt"], [1.0]))
    )
    assert snapshot is None
    assert summary["note"] == "no current rows: drift not measured"


@pytest.fixture
def warehouse(tmp_path):
    path = tmp_path / "w.duckdb"
    day = date(2026, 1, 10)
    with duckdb.connect(str(path)) as con:
        con.execute("create table slots (slot_id varchar, theme varchar, volatility varchar)")
        con.execute("insert into slots values ('s1', 'egypt', 'low'), ('s2', 'space', 'high')")
        con.execute(
            "create table user_slot_days (user_id varchar, slot_id varchar,"
            " played_on date, play_seconds double, session_count bigint, bet_amount double)"
        )
        rows = [
            ("u1", "s1", day, 600.0, 2, 10.0),
            ("u2", "s2", day, 0.0, 0, 0.0),  # a click without play: not a play row
            ("u1", "s2", day - timedelta(days=1), 300.0, 1, 5.0),
            ("u2", "s1", day - timedelta(days=7), 100.0, 1, 1.0),
            ("u3", "s1", day - timedelta(days=8), 100.0, 1, 1.0),  # outside the window
        ]
        con.executemany("insert into user_slot_days values (?, ?, ?, ?, ?, ?)", rows)
        con.execute(
            "create table user_features (user_id varchar, snapshot_on date,"
            " play_seconds_30d double, active_days_30d bigint, session_count_30d bigint,"
            " avg_session_seconds_30d double, stake_per_minute_30d double, segment varchar)"
        )
        con.execute(
            "insert into user_features values ('u1', ?, 900, 2, 3, 300, 1.0, 'casual'),"
            " ('u1', ?, 300, 1, 1, 300, 1.0, 'casual')",
            [day, day - timedelta(days=1)],
        )
    return path, day


def test_interaction_frames_split_today_from_the_reference_window(warehouse):
    path, day = warehouse
    data = interaction_frames(path, day, reference_days=7)
    assert data.current.to_dict("records") == [
        {
            "play_seconds": 600.0,
            "session_count": 2,
            "bet_amount": 10.0,
            "seconds_per_session": 300.0,
            "theme": "egypt",
            "volatility": "low",
        }
    ]
    assert sorted(data.reference["play_seconds"]) == [100.0, 300.0]


def test_feature_frames_split_snapshots(warehouse):
    path, day = warehouse
    data = feature_frames(path, day, reference_days=7)
    assert data.current["play_seconds_30d"].tolist() == [900]
    assert data.reference["play_seconds_30d"].tolist() == [300]
    assert data.categorical == ["segment"]
