"""Feast over hand-made feature snapshots: point-in-time joins never leak the future.

The snapshots are written by hand (not by dbt) so each expected value is known exactly.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from feature_repo import store as feature_store
from slotrec.core import schema
from slotrec.core.settings import Settings

DAY1 = date(2026, 1, 1)
DAY2 = date(2026, 1, 2)


def _user_snapshot(user_id: str, day: date, play_seconds: float, segment: str) -> dict:
    row: dict = {
        "user_id": user_id,
        "feature_timestamp": feature_store.end_of_day(day),
        "days_since_last_play": 0,
        "active_days_30d": 1,
        "play_seconds_30d": play_seconds,
        "session_count_30d": 1,
        "avg_session_seconds_30d": play_seconds,
        "avg_bet_30d": 1.0,
        "stake_per_minute_30d": 15.0,
        "segment": segment,
        "favourite_provider": "pragmatic",
        "favourite_provider_share": 1.0,
    }
    for theme in schema.THEMES:
        row[f"theme_share_{theme}"] = 1.0 if theme == "fishing" else 0.0
    for level in schema.VOLATILITY_LEVELS:
        row[f"volatility_share_{level}"] = 1.0 if level == "high" else 0.0
    return row


def _slot_snapshot(slot_id: str, day: date, players: int) -> dict:
    return {
        "slot_id": slot_id,
        "feature_timestamp": feature_store.end_of_day(day),
        "players_1d": players,
        "players_7d": players,
        "players_30d": players,
        "play_seconds_1d": 60.0 * players,
        "play_seconds_7d": 60.0 * players,
        "play_seconds_30d": 60.0 * players,
        "popularity_trend": 1.0,
        "avg_session_seconds_30d": 60.0,
        "distinct_players_total": players,
        "age_days": (day - DAY1).days,
        "is_active": True,
    }


def _risk_snapshot(user_id: str, day: date, level: str) -> dict:
    return {
        "user_id": user_id,
        "feature_timestamp": feature_store.end_of_day(day),
        "snapshot_on": day,
        "session_count_7d": 4,
        "play_seconds_7d": 30_000.0,
        "long_session_count_7d": 2,
        "night_session_share_7d": 0.5,
        "loss_chase_share_7d": None,
        "play_seconds_recent_3d": 20_000.0,
        "play_time_growth": None,
        "has_long_sessions": level != "none",
        "has_late_night_play": level == "high",
        "has_loss_chasing": False,
        "has_escalating_play": False,
        "risk_signal_count": {"none": 0, "elevated": 1, "high": 2}[level],
        "risk_level": level,
    }


@pytest.fixture()
def store(tmp_path, monkeypatch):
    """A feature store in tmp_path over two daily snapshots (values differ by day)."""
    monkeypatch.setenv("SLOTREC_DATA_DIR", str(tmp_path))
    settings = Settings(data_dir=tmp_path)
    export = settings.layout.feature_export_dir
    export.mkdir(parents=True)
    users = pd.DataFrame(
        [
            _user_snapshot("u1", DAY1, 100.0, "casual"),
            _user_snapshot("u1", DAY2, 900.0, "regular"),
            _user_snapshot("u2", DAY2, 50.0, "casual"),
        ]
    )
    slots = pd.DataFrame([_slot_snapshot("s1", DAY1, 3), _slot_snapshot("s1", DAY2, 7)])
    risks = pd.DataFrame(
        [
            _risk_snapshot("u1", DAY1, "high"),
            _risk_snapshot("u1", DAY2, "elevated"),
            _risk_snapshot("u2", DAY2, "none"),
        ]
    )
    # Microsecond UTC timestamps, as DuckDB exports them from the marts.
    for frame, name in (
        (users, "user_features"),
        (slots, "slot_features"),
        (risks, "player_risk"),
    ):
        frame["feature_timestamp"] = frame["feature_timestamp"].astype("datetime64[us, UTC]")
        frame.to_parquet(export / f"{name}.parquet")
    fs = feature_store.open_store(settings)
    feature_store.apply_definitions(fs, settings)
    return fs, settings


def test_historical_features_use_only_snapshots_from_before_the_label(store):
    fs, _ = store
    day1_end = feature_store.end_of_day(DAY1)
    day2_end = feature_store.end_of_day(DAY2)
    entity_df = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u2"],
            "slot_id": ["s1", "s1", "s1", "s1"],
            # before any snapshot / after day 1 only / after day 2 / u2 before its first snapshot
            "event_timestamp": [
                day1_end - timedelta(hours=1),
                day1_end + timedelta(hours=5),
                day2_end + timedelta(minutes=1),
                day1_end + timedelta(hours=5),
            ],
        }
    )
    rows = (
        fs.get_historical_features(
            entity_df=entity_df, features=fs.get_feature_service("ranking_v1")
        )
        .to_df()
        .sort_values(["user_id", "event_timestamp"])
        .reset_index(drop=True)
    )
    u1 = rows[rows.user_id == "u1"].reset_index(drop=True)
    assert pd.isna(u1.loc[0, "play_seconds_30d"]), "a snapshot stamped after the label leaked"
    assert u1.loc[1, "play_seconds_30d"] == 100.0
    assert u1.loc[1, "segment"] == "casual"
    assert u1.loc[1, "players_7d"] == 3
    assert u1.loc[1, "slot_play_seconds_7d"] == 180.0
    assert u1.loc[2, "play_seconds_30d"] == 900.0
    assert u1.loc[2, "players_7d"] == 7
    u2 = rows[rows.user_id == "u2"].reset_index(drop=True)
    assert pd.isna(u2.loc[0, "play_seconds_30d"])


def test_materialize_then_online_read_returns_the_latest_snapshot(store):
    fs, settings = store
    result = feature_store.materialize(fs, settings, DAY2)
    assert result.rows_by_view == {"user_features": 2, "slot_features": 1, "player_risk": 2}
    online = feature_store.online_features(
        fs, "user_profile_v1", [{"user_id": "u1"}, {"user_id": "unknown"}]
    )
    assert online["play_seconds_30d"] == [900.0, None]
    assert online["segment"] == ["regular", None]
    assert online["theme_share_fishing"] == [1.0, None]
    slot = feature_store.online_features(fs, "slot_profile_v1", [{"slot_id": "s1"}])
    assert slot["players_1d"] == [7]
    risk = feature_store.online_features(
        fs, "risk_profile_v1", [{"user_id": "u1"}, {"user_id": "u2"}, {"user_id": "unknown"}]
    )
    assert risk["risk_level"] == ["elevated", "none", None]
    assert risk["has_long_sessions"] == [True, False, None]


def test_materialize_is_incremental_and_idempotent(store):
    fs, settings = store
    feature_store.materialize(fs, settings, DAY1)
    first = feature_store.online_features(fs, "user_profile_v1", [{"user_id": "u1"}])
    assert first["play_seconds_30d"] == [100.0]
    feature_store.materialize(fs, settings, DAY2)
    feature_store.materialize(fs, settings, DAY2)
    again = feature_store.online_features(fs, "user_profile_v1", [{"user_id": "u1"}])
    assert again["play_seconds_30d"] == [900.0]
