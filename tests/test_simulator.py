"""Fast checks of the casino world simulator on tiny worlds written to a temporary folder."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from slotrec.core.schema import (
    DAY_CAPACITY_SECONDS,
    EVENT_TYPES,
    FUTURE_TOLERANCE_SECONDS,
    MAX_EVENT_DURATION_SECONDS,
    MAX_LATENESS_DAYS,
    ONBOARDING_SCHEMA,
    PLAY_OVERLAP_TOLERANCE_SECONDS,
    PLAYER_SCHEMA,
    RAW_EVENT_SCHEMA,
    REJECT_REASONS,
    SESSION_REJECT_REASONS,
    SLOT_CATALOGUE_SCHEMA,
    THEMES,
)
from slotrec.core.settings import DataLayout, Settings
from slotrec.simulator import SimulationConfig, load_truth, simulate_world, true_affinity
from slotrec.simulator.affinity import affinity_matrix
from slotrec.simulator.catalogue import build_catalogue
from slotrec.simulator.dirt import DEFECT_WEIGHTS
from slotrec.simulator.play_dirt import PLAY_DEFECT_WEIGHTS, PLAY_DEFECTS
from slotrec.simulator.players import build_players

TINY = {
    "seed": 7,
    "n_players": 200,
    "n_slots": 60,
    "days": 3,
    "new_players_per_day": 10,
    "new_slots_per_day": 2,
    "dirt_rate": 0.05,
    "late_rate": 0.03,
    "at_risk_share": 0.15,
}
PLAY_TYPES = ("heartbeat", "session_end")
ABSURD_AMOUNT = Settings.model_fields["max_event_amount"].default


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[SimulationConfig, DataLayout]:
    config = SimulationConfig(**TINY)
    layout = DataLayout(tmp_path_factory.mktemp("world"))
    simulate_world(config, layout)
    return config, layout


def _events(layout: DataLayout, config: SimulationConfig) -> pd.DataFrame:
    """Every delivered row, with its delivery day."""
    frames = []
    for day in config.day_list:
        for path in sorted(layout.raw_events_day_dir(day).glob("*.parquet")):
            frame = pq.read_table(path).to_pandas()
            frame["delivery_day"] = pd.Timestamp(day, tz="UTC")
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _defects(events: pd.DataFrame, layout: DataLayout) -> pd.DataFrame:
    """One boolean column per reject reason, derived from the data alone."""
    slots = set(pq.read_table(layout.slot_catalogue_path).column("slot_id").to_pylist())
    users = set(pq.read_table(layout.players_path).column("user_id").to_pylist())
    required = ["event_id", "user_id", "slot_id", "occurred_at", "event_type"]
    day_start = events["delivery_day"]
    day_end = day_start + pd.Timedelta(days=1)
    known = events[required].notna().all(axis=1)
    return pd.DataFrame(
        {
            "null_required_field": ~known,
            "unknown_event_type": events["event_type"].notna()
            & ~events["event_type"].isin(EVENT_TYPES),
            # Every copy after the first of an event_id is one duplicate.
            "duplicate_event": events["event_id"].notna()
            & events.duplicated(subset=["event_id"], keep="first"),
            "future_timestamp": events["occurred_at"]
            > day_end + pd.Timedelta(seconds=FUTURE_TOLERANCE_SECONDS),
            "too_late": events["occurred_at"] < day_start - pd.Timedelta(days=MAX_LATENESS_DAYS),
            "negative_duration": events["duration_seconds"] < 0,
            "absurd_duration": events["duration_seconds"] > MAX_EVENT_DURATION_SECONDS,
            "negative_amount": (events["bet_amount"] < 0) | (events["win_amount"] < 0),
            "absurd_amount": (events["bet_amount"] > ABSURD_AMOUNT)
            | (events["win_amount"] > ABSURD_AMOUNT),
            "unknown_user": events["user_id"].notna() & ~events["user_id"].isin(users),
            "unknown_slot": events["slot_id"].notna() & ~events["slot_id"].isin(slots),
        }
    )


def _play_defects(events: pd.DataFrame, row_clean: pd.Series) -> pd.DataFrame:
    """The rules on play as a whole, written again in pandas for the whole world at once.

    An independent reading of int_events_checked's three rules: each judges only rows that pass
    every row rule, and a row breaks the first one it meets.
    """
    tolerance = PLAY_OVERLAP_TOLERANCE_SECONDS
    out = pd.DataFrame(False, index=events.index, columns=list(SESSION_REJECT_REASONS))
    play = events[row_clean & events["event_type"].isin((*PLAY_TYPES, "session_start"))].copy()
    play["at"] = (play["occurred_at"] - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    play["from"] = play["at"] - play["duration_seconds"]
    play = play.sort_values(["user_id", "session_id", "at", "event_id"])
    covered = play.groupby(["user_id", "session_id"])["at"].transform(
        lambda at: at.cummax().shift()
    )
    out.loc[play.index[play["from"] < covered - tolerance], "overlapping_play"] = True
    play = play[~out.loc[play.index, "overlapping_play"]]

    keys = ["user_id", "slot_id", "session_id"]
    spans = play.groupby(keys).agg(start=("from", "min"), end=("at", "max")).reset_index()
    spans = spans.sort_values(["user_id", "slot_id", "start", "session_id"])
    busy = spans.groupby(["user_id", "slot_id"])["end"].transform(lambda e: e.cummax().shift())
    overlapping = spans.loc[spans["start"] < busy - tolerance, keys]
    hit = events[keys].merge(overlapping.assign(hit=True), on=keys, how="left")["hit"].notna()
    out["overlapping_session"] = hit.to_numpy() & row_clean.to_numpy()

    play = play.merge(overlapping.assign(hit=True), on=keys, how="left")
    play = play[play["hit"].isna()]
    play["played_on"] = play["occurred_at"].dt.floor("D")
    days = ["user_id", "session_id", "played_on"]
    parts = play.groupby(days).agg(start=("from", "min"), seconds=("duration_seconds", "sum"))
    parts = parts.reset_index().sort_values(["user_id", "played_on", "start", "session_id"])
    parts["total"] = parts.groupby(["user_id", "played_on"])["seconds"].cumsum()
    full = parts.loc[parts["total"] > DAY_CAPACITY_SECONDS, days].assign(hit=True)
    on_day = events.assign(played_on=events["occurred_at"].dt.floor("D"))[days]
    hit = on_day.merge(full, on=days, how="left")["hit"].notna().to_numpy()
    out["over_day_capacity"] = hit & row_clean.to_numpy()
    # the first rule broken is the reason
    out["overlapping_session"] &= ~out["overlapping_play"]
    out["over_day_capacity"] &= ~(out["overlapping_play"] | out["overlapping_session"])
    return out


def _all_defects(events: pd.DataFrame, layout: DataLayout) -> pd.DataFrame:
    """Row rules, then the rules on play: one boolean column per reject reason."""
    rows = _defects(events, layout)
    return pd.concat([rows, _play_defects(events, ~rows.any(axis=1))], axis=1)


def _clean(events: pd.DataFrame, layout: DataLayout) -> pd.DataFrame:
    """Rows a quarantine would keep (first copy of each duplicate)."""
    return events[~_all_defects(events, layout).any(axis=1)]


# --- configuration -------------------------------------------------------------------------
def test_config_rejects_bad_values_with_the_field_name() -> None:
    with pytest.raises(ValidationError, match="days"):
        SimulationConfig(days=0)
    with pytest.raises(ValidationError, match="segment_shares"):
        SimulationConfig(segment_shares={"casual": 0.5, "regular": 0.2, "high_roller": 0.1})
    with pytest.raises(ValidationError, match="daily_active_rate"):
        SimulationConfig(daily_active_rate={"casual": 0.1})
    with pytest.raises(ValidationError, match="dirt_rate"):
        SimulationConfig(dirt_rate=-0.1)
    with pytest.raises(ValidationError, match="n_playrs"):
        SimulationConfig(n_playrs=10)  # typos are errors, not silently ignored
    with pytest.raises(ValidationError, match="user ids"):
        SimulationConfig(n_players=9_999_990, new_players_per_day=10, days=2)


def test_config_is_frozen() -> None:
    config = SimulationConfig()
    with pytest.raises(ValidationError):
        config.days = 3  # type: ignore[misc]


def test_every_reject_reason_but_day_capacity_has_a_planted_defect() -> None:
    planted = set(DEFECT_WEIGHTS) | set(PLAY_DEFECTS.values())
    assert planted == set(REJECT_REASONS) - {"over_day_capacity"}
    assert set(PLAY_DEFECT_WEIGHTS) == set(PLAY_DEFECTS)


def test_the_manifest_lists_the_play_dirt_by_kind(world: tuple[SimulationConfig, DataLayout]):
    config, layout = world
    planted = dict.fromkeys(PLAY_DEFECTS, 0)
    rejected = dict.fromkeys(REJECT_REASONS, 0)
    for day in config.day_list:
        manifest = json.loads((layout.truth_dir / "dirt" / f"day={day}.json").read_text())
        for kind, rows in manifest["play_dirt"].items():
            planted[kind] += rows
        for reason, rows in manifest["rejected"].items():
            rejected[reason] += rows
    assert all(planted.values()), planted
    for reason in set(PLAY_DEFECTS.values()):
        kinds = [kind for kind, r in PLAY_DEFECTS.items() if r == reason]
        assert rejected[reason] == sum(planted[k] for k in kinds)


# --- files and schemas ---------------------------------------------------------------------
def test_outputs_have_the_contract_schemas(world: tuple[SimulationConfig, DataLayout]) -> None:
    config, layout = world
    assert pq.read_schema(layout.slot_catalogue_path).equals(SLOT_CATALOGUE_SCHEMA)
    assert pq.read_schema(layout.players_path).equals(PLAYER_SCHEMA)
    assert pq.read_schema(layout.onboarding_path).equals(ONBOARDING_SCHEMA)
    for day in config.day_list:
        parts = sorted(layout.raw_events_day_dir(day).glob("part-*.parquet"))
        assert [p.name for p in parts] == ["part-00000.parquet"]
        assert pq.read_schema(parts[0]).equals(RAW_EVENT_SCHEMA)
        assert (layout.truth_dir / "dirt" / f"day={day.isoformat()}.json").exists()
    for name in ("players.parquet", "slots.parquet", "affinity_top.parquet"):
        assert (layout.truth_dir / name).exists()
    recipe = json.loads((layout.truth_dir / "config.json").read_text())
    assert SimulationConfig(**recipe) == config
    assert not list(layout.root.rglob("*.tmp"))


def test_catalogue_and_players_cover_arrivals(world: tuple[SimulationConfig, DataLayout]) -> None:
    config, layout = world
    slots = pq.read_table(layout.slot_catalogue_path).to_pandas()
    players = pq.read_table(layout.players_path).to_pandas()
    assert len(slots) == config.total_slots and slots["slot_id"].is_unique
    assert len(players) == config.total_players and players["user_id"].is_unique
    assert slots["slot_id"].iloc[0] == "s000001" and players["user_id"].iloc[0] == "u0000001"
    start = pd.Timestamp(config.start_date, tz="UTC")
    assert (slots["released_at"] < start).sum() == config.n_slots
    assert (players["registered_at"] < start).sum() == config.n_players
    assert slots["rtp"].between(0.94, 0.975).all()
    assert slots["theme"].isin(THEMES).all()
    assert slots["name"].is_unique
    assert (~slots["is_active"]).sum() <= 0.2 * len(slots)
    assert slots["jurisdictions"].str.len().gt(0).all()


# --- determinism ---------------------------------------------------------------------------
def _all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_data(
    world: tuple[SimulationConfig, DataLayout], tmp_path: Path
) -> None:
    config, layout = world
    again = DataLayout(tmp_path / "again")
    simulate_world(config, again)
    assert _all_files(again.root) == _all_files(layout.root)

    other = DataLayout(tmp_path / "other")
    simulate_world(config.model_copy(update={"seed": 8}), other)
    day = config.day_list[0]
    mine = pq.read_table(layout.raw_events_day_dir(day) / "part-00000.parquet")
    theirs = pq.read_table(other.raw_events_day_dir(day) / "part-00000.parquet")
    assert not mine.equals(theirs)


def test_chunk_size_does_not_change_the_world(tmp_path: Path) -> None:
    base = {"n_players": 8_300, "n_slots": 30, "days": 2, "new_players_per_day": 0, "seed": 3}
    small, large = DataLayout(tmp_path / "small"), DataLayout(tmp_path / "large")
    simulate_world(SimulationConfig(**base, chunk_players=4_096), small)
    simulate_world(SimulationConfig(**base, chunk_players=100_000), large)
    for day in SimulationConfig(**base).day_list:
        a, b = (_day_table(layout, day) for layout in (small, large))
        assert len(list(small.raw_events_day_dir(day).glob("*.parquet"))) == 3
        assert len(list(large.raw_events_day_dir(day).glob("*.parquet"))) == 1
        assert a.sort_by("event_id").equals(b.sort_by("event_id"))
    for name in ("affinity_top.parquet", "players.parquet"):
        assert pq.read_table(small.truth_dir / name).equals(pq.read_table(large.truth_dir / name))


def _day_table(layout: DataLayout, day: date) -> pa.Table:
    paths = sorted(layout.raw_events_day_dir(day).glob("*.parquet"))
    return pa.concat_tables([pq.read_table(p) for p in paths])


def test_rerun_replaces_stale_parts_but_keeps_foreign_files(tmp_path: Path) -> None:
    config = SimulationConfig(n_players=50, n_slots=20, days=1, new_players_per_day=0)
    layout = DataLayout(tmp_path)
    folder = layout.raw_events_day_dir(config.start_date)
    folder.mkdir(parents=True)
    (folder / "part-00007.parquet").write_bytes(b"left by a bigger run")
    (folder / "feedback-0001.parquet").write_bytes(b"written by serving")
    simulate_world(config, layout)
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["feedback-0001.parquet", "part-00000.parquet"]


def test_progress_is_reported(tmp_path: Path) -> None:
    calls: list[tuple[int, int, str]] = []
    config = SimulationConfig(n_players=50, n_slots=20, days=2, new_players_per_day=0)
    simulate_world(config, DataLayout(tmp_path), progress=lambda *a: calls.append(a))
    assert [c[0] for c in calls] == [1, 2, 3]
    assert all(c[1] == 3 for c in calls)


# --- dirt ----------------------------------------------------------------------------------
def test_manifests_match_the_rows(world: tuple[SimulationConfig, DataLayout]) -> None:
    config, layout = world
    events = _events(layout, config)
    defects = _all_defects(events, layout)
    assert defects.sum(axis=1).max() <= 1, "a dirty row must carry exactly one defect"
    found_any = dict.fromkeys(REJECT_REASONS, 0)
    for day in config.day_list:
        manifest = json.loads((layout.truth_dir / "dirt" / f"day={day}.json").read_text())
        on_day = (events["delivery_day"] == pd.Timestamp(day, tz="UTC")).to_numpy()
        counts = defects[on_day].sum().to_dict()
        assert counts == manifest["rejected"], day
        clean = on_day & ~defects.any(axis=1).to_numpy()
        assert manifest["delivered_rows"] == on_day.sum()
        assert manifest["clean_rows"] == clean.sum()
        late = clean & (events["occurred_at"] < events["delivery_day"]).to_numpy()
        assert manifest["late_rows"] == late.sum()
        for reason, count in counts.items():
            found_any[reason] += count
    # every planted defect occurs; play past a day's capacity is never planted (play_dirt.py)
    assert found_any.pop("over_day_capacity") == 0
    assert all(found_any.values()), f"every defect should occur in the tiny world: {found_any}"
    # late rows are one day late at most; the first day cannot have any
    first = json.loads((layout.truth_dir / "dirt" / f"day={config.start_date}.json").read_text())
    assert first["late_rows"] == 0


def test_no_dirt_when_dirt_rate_is_zero(tmp_path: Path) -> None:
    config = SimulationConfig(**{**TINY, "dirt_rate": 0.0})
    layout = DataLayout(tmp_path)
    summary = simulate_world(config, layout)
    events = _events(layout, config)
    assert not _all_defects(events, layout).any().any()
    assert sum(summary.rejected.values()) == 0
    assert summary.delivered_rows == summary.clean_rows == len(events)
    assert summary.late_rows > 0  # lateness is valid, not dirt


def test_rows_arrive_out_of_order(world: tuple[SimulationConfig, DataLayout]) -> None:
    config, layout = world
    events = _clean(_events(layout, config), layout)
    assert not events["occurred_at"].is_monotonic_increasing


# --- sessions ------------------------------------------------------------------------------
def test_sessions_are_well_formed(world: tuple[SimulationConfig, DataLayout]) -> None:
    config, layout = world
    events = _clean(_events(layout, config), layout)
    interval = config.heartbeat_interval_seconds
    assert (events.loc[events["event_type"] == "heartbeat", "duration_seconds"] == interval).all()
    by_type = events.pivot_table(
        index="session_id", columns="event_type", values="event_id", aggfunc="count", fill_value=0
    )
    assert (by_type["session_start"] == 1).all() and (by_type["session_end"] == 1).all()
    assert (by_type["click"] == 1).all() and (by_type["impression"] >= 1).all()

    start = events[events["event_type"] == "session_start"].set_index("session_id")["occurred_at"]
    end = events[events["event_type"] == "session_end"].set_index("session_id")["occurred_at"]
    play = events[events["event_type"].isin(PLAY_TYPES)]
    seconds = play.groupby("session_id")["duration_seconds"].sum()
    span = (end - start).dt.total_seconds()
    assert np.allclose(seconds.loc[span.index], span)
    assert (span > 0).all()

    timed = events.join(start.rename("start_at"), on="session_id").join(
        end.rename("end_at"), on="session_id"
    )
    heartbeats = timed[timed["event_type"] == "heartbeat"]
    assert (heartbeats["occurred_at"] > heartbeats["start_at"]).all()
    assert (heartbeats["occurred_at"] < heartbeats["end_at"]).all()
    lobby = timed[timed["event_type"].isin(["impression", "click"])]
    assert (lobby["occurred_at"] < lobby["start_at"]).all()
    # one user and one slot per session (lobby tiles aside)
    assert (play.groupby("session_id")[["user_id", "slot_id"]].nunique() == 1).all().all()
    assert events["request_id"].isna().all()


def test_nothing_is_played_before_release_or_registration(
    world: tuple[SimulationConfig, DataLayout],
) -> None:
    config, layout = world
    events = _clean(_events(layout, config), layout)
    slots = pq.read_table(layout.slot_catalogue_path).to_pandas().set_index("slot_id")
    players = pq.read_table(layout.players_path).to_pandas().set_index("user_id")
    joined = events.join(slots, on="slot_id").join(players, on="user_id")
    assert (joined["occurred_at"] >= joined["released_at"]).all()
    assert (joined["occurred_at"] >= joined["registered_at"]).all()
    new_players = players.index[
        players["registered_at"] >= pd.Timestamp(config.start_date, tz="UTC")
    ]
    assert events["user_id"].isin(new_players).any(), "arriving players should play"
    # every event lies within the simulated window
    end = pd.Timestamp(config.start_date + timedelta(days=config.days), tz="UTC")
    assert (events["occurred_at"] < end).all()


def test_inactive_and_forbidden_slots_are_never_played(
    world: tuple[SimulationConfig, DataLayout],
) -> None:
    config, layout = world
    events = _clean(_events(layout, config), layout)
    slots = pq.read_table(layout.slot_catalogue_path).to_pandas().set_index("slot_id")
    players = pq.read_table(layout.players_path).to_pandas().set_index("user_id")
    joined = events.join(slots, on="slot_id").join(players, on="user_id")
    assert joined["is_active"].all()
    allowed = [
        c in j.split(",") for c, j in zip(joined["country"], joined["jurisdictions"], strict=True)
    ]
    assert all(allowed)
    assert (~slots["is_active"]).any(), "the tiny world should have an inactive slot to avoid"


def test_at_risk_players_play_longer_later_and_chase_losses(
    world: tuple[SimulationConfig, DataLayout],
) -> None:
    config, layout = world
    events = _clean(_events(layout, config), layout)
    truth = pq.read_table(layout.truth_dir / "players.parquet").to_pandas()
    risky = set(truth.loc[truth["is_at_risk"], "user_id"])
    play = events[events["event_type"].isin(PLAY_TYPES)].copy()
    play["at_risk"] = play["user_id"].isin(risky)
    sessions = play.groupby(["session_id", "at_risk"])["duration_seconds"].sum().reset_index()
    mean_seconds = sessions.groupby("at_risk")["duration_seconds"].mean()
    assert mean_seconds[True] > 1.5 * mean_seconds[False]

    starts = events[events["event_type"] == "session_start"].copy()
    starts["night"] = starts["occurred_at"].dt.hour < 6
    night_share = starts.groupby(starts["user_id"].isin(risky))["night"].mean()
    assert night_share[True] > 2 * night_share[False]

    beats = play[play["event_type"] == "heartbeat"].sort_values(["session_id", "occurred_at"])
    beats["next_bet"] = beats.groupby("session_id")["bet_amount"].shift(-1)
    after_loss = beats[(beats["win_amount"] < beats["bet_amount"]) & beats["next_bet"].gt(0)]
    growth = np.log(after_loss["next_bet"] / after_loss["bet_amount"].clip(lower=0.01))
    by_risk = growth.groupby(after_loss["at_risk"]).median()
    assert by_risk[True] > by_risk[False] + 0.1


def test_truth_flags_at_risk_players_with_their_patterns_and_escalation_grows(
    world: tuple[SimulationConfig, DataLayout],
) -> None:
    config, layout = world
    truth = pq.read_table(layout.truth_dir / "players.parquet").to_pandas()
    risky = truth[truth["is_at_risk"]]
    assert 0.08 < len(risky) / len(truth) < 0.25  # at_risk_share 0.15
    assert (truth.loc[~truth["is_at_risk"], "risk_patterns"] == "").all()
    assert risky["risk_patterns"].str.startswith("long_sessions,late_night").all()
    chasing = risky["risk_patterns"].str.contains("loss_chasing")
    escalating = risky["risk_patterns"].str.contains("escalating")
    assert 0 < chasing.sum() < len(risky) and 0 < escalating.sum() < len(risky)
    assert ((risky["escalation_start_day"] >= 0) == escalating).all()
    assert (truth.loc[~truth["is_at_risk"], "escalation_start_day"] == -1).all()

    events = _clean(_events(layout, config), layout)
    play = events[events["event_type"].isin(PLAY_TYPES)]
    ids = set(risky.loc[escalating, "user_id"])
    mine = play[play["user_id"].isin(ids)]
    per_day = mine.groupby(mine["occurred_at"].dt.date)["duration_seconds"].sum()
    assert len(per_day) == config.days
    assert per_day.iloc[-1] > 1.5 * per_day.iloc[0]  # 2, 4, then 6 extra sessions a day


# --- ground truth --------------------------------------------------------------------------
def test_true_affinity_dense_and_pairwise_agree() -> None:
    config = SimulationConfig(n_players=40, n_slots=30, days=1)
    players, catalogue = build_players(config), build_catalogue(config)
    dense = affinity_matrix(players.truth, slice(0, 40), catalogue.truth)  # [40, S]
    users, slots = np.meshgrid(np.arange(40), np.arange(catalogue.n_slots), indexing="ij")
    pairwise = true_affinity(players.truth, catalogue.truth, users, slots)
    assert pairwise.shape == dense.shape
    assert np.array_equal(pairwise, dense.astype(np.float64))
    assert ((pairwise > 0) & (pairwise < 1)).all()
    with pytest.raises(ValueError, match="shape"):
        true_affinity(players.truth, catalogue.truth, np.arange(3), np.arange(4))


def test_truth_round_trips_and_matches_top_list(world: tuple[SimulationConfig, DataLayout]) -> None:
    _, layout = world
    players, slots = load_truth(layout)
    top = pq.read_table(layout.truth_dir / "affinity_top.parquet").to_pandas()
    assert top.groupby("user_id")["rank"].max().max() == 50
    user_idx = top["user_id"].str[1:].astype(int).to_numpy() - 1
    slot_idx = top["slot_id"].str[1:].astype(int).to_numpy() - 1
    assert np.array_equal(true_affinity(players, slots, user_idx, slot_idx), top["affinity"])
    ordered = top.sort_values(["user_id", "rank"])
    assert (ordered.groupby("user_id")["affinity"].diff().dropna() <= 0).all()


def test_players_play_what_they_truly_like(world: tuple[SimulationConfig, DataLayout]) -> None:
    config, layout = world
    events = _clean(_events(layout, config), layout)
    players, slots = load_truth(layout)
    play = events[events["event_type"].isin(PLAY_TYPES)]
    seconds = play.groupby(["user_id", "slot_id"])["duration_seconds"].sum().reset_index()
    user_idx = seconds["user_id"].str[1:].astype(int).to_numpy() - 1
    slot_idx = seconds["slot_id"].str[1:].astype(int).to_numpy() - 1
    seconds["affinity"] = true_affinity(players, slots, user_idx, slot_idx)

    rng = np.random.default_rng(0)
    random_slots = rng.integers(0, slots.n_slots, size=user_idx.size)
    random_affinity = true_affinity(players, slots, user_idx, random_slots)
    assert seconds["affinity"].mean() > random_affinity.mean() + 0.25
    rho = seconds["duration_seconds"].corr(seconds["affinity"], method="spearman")
    assert rho > 0.1


def test_onboarding_answers_follow_true_tastes(world: tuple[SimulationConfig, DataLayout]) -> None:
    _, layout = world
    answers = pq.read_table(layout.onboarding_path).to_pandas().dropna(subset=["preferred_themes"])
    truth = pq.read_table(layout.truth_dir / "players.parquet").to_pandas().set_index("user_id")
    prefs = truth[[f"theme_pref_{t}" for t in THEMES]].to_numpy()
    top3 = {
        user: {THEMES[i] for i in np.argsort(-row)[:3]}
        for user, row in zip(truth.index, prefs, strict=True)
    }
    first = answers["preferred_themes"].str.split(",").str[0]
    hits = [theme in top3[user] for user, theme in zip(answers["user_id"], first, strict=True)]
    assert len(hits) > 20 and np.mean(hits) > 0.7
    assert pq.read_table(layout.onboarding_path).column("preferred_providers").null_count > 0


# --- time: one player, one session at a time ------------------------------------------------
def _demo_start_dates() -> list[date]:
    """The first history day the closed-loop demo picks today, for every --days it allows."""
    from slotrec.closed_loop import MAX_CLOSED_LOOP_DAYS, ClosedLoopConfig

    return [
        ClosedLoopConfig(days=days).first_history_day()
        for days in range(1, MAX_CLOSED_LOOP_DAYS + 1)
    ]


def _generated_play(events: pd.DataFrame) -> pd.DataFrame:
    """The play rows the world's players really played: no planted dirt, each event once.

    Told apart by the event id, not by the quarantine rules (which would hide any overlap):
    its kind digit (writer.EVENT_KEY_DIGITS) is 0 for ordinary sessions and 2 for escalating
    ones; duplicated rows repeat their original's id and are dropped as copies.
    """
    kind = events["event_id"].str.slice(8, 9)
    play = events[kind.isin(["0", "2"]) & events["event_type"].isin((*PLAY_TYPES, "session_start"))]
    return play.drop_duplicates(subset="event_id")


@pytest.mark.parametrize(
    "start",
    [
        date(2026, 1, 1),
        date(2026, 6, 10),
        date(2026, 11, 24),
        date(2026, 11, 25),
        *_demo_start_dates(),
    ],
)
@pytest.mark.parametrize("seed", [3, 7, 11])
def test_no_player_plays_two_sessions_at_once_or_more_than_a_day(tmp_path, start, seed):
    # the demo's size and length, with three times the usual at-risk players
    config = SimulationConfig(
        seed=seed, n_players=2_000, n_slots=200, days=7, start_date=start, at_risk_share=0.1
    )
    layout = DataLayout(tmp_path)
    simulate_world(config, layout)
    play = _generated_play(_events(layout, config))
    play = play.assign(at=(play["occurred_at"] - pd.Timestamp(0, tz="UTC")).dt.total_seconds())
    play = play.assign(claimed_from=play["at"] - play["duration_seconds"])
    sessions = play.groupby(["user_id", "session_id"]).agg(
        start=("claimed_from", "min"), end=("at", "max")
    )
    sessions = sessions.reset_index().sort_values(["user_id", "start"])
    previous_end = sessions.groupby("user_id")["end"].shift()
    overlapping = sessions[sessions["start"] < previous_end]
    assert overlapping.empty, overlapping.head()
    per_day = play.groupby(["user_id", play["occurred_at"].dt.floor("D")])["duration_seconds"]
    assert per_day.sum().max() <= DAY_CAPACITY_SECONDS
    # the escalating players' extra sessions still happen (fitted around their other play)
    escalating = play[play["event_id"].str.slice(8, 9) == "2"]
    assert len(escalating) > 0
