"""The closed loop: the lobby's choice model and true list values (unit), the service's simulated
clock (unit), and the whole demo against a real `bentoml serve` on a tiny world (slow)."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest

from slotrec.closed_loop import (
    ClosedLoopConfig,
    demo_settings,
    fresh_data_dir,
    prepare_history,
    run_closed_loop,
    true_winner,
)
from slotrec.core.clock import FileClock, set_simulated_now
from slotrec.core.settings import DataLayout
from slotrec.simulator import SimulationConfig, simulate_world
from slotrec.simulator.affinity import true_affinity
from slotrec.simulator.lobby import (
    CLICK_SCALE,
    ListValue,
    LobbyPlan,
    LobbyTruth,
    NewGame,
    ServedList,
    choose,
    examination,
    expected_outcome,
    first_click_probabilities,
    play_events,
)
from slotrec.simulator.world import load_truth

# --- the choice model, by hand --------------------------------------------------------------


def test_examination_is_one_over_log2_of_rank_plus_two():
    assert np.allclose(examination(3), [1.0, 1.0 / math.log2(3.0), 0.5])


def test_first_click_probabilities_follow_the_cascade():
    # position 0: examined for sure, clicked with 0.5 x 1.0; position 1 only if 0 was not clicked
    q1 = CLICK_SCALE * 1.0 / math.log2(3.0)
    p = first_click_probabilities(np.array([1.0, 1.0]))
    assert p == pytest.approx([0.5, 0.5 * q1])
    assert first_click_probabilities(np.array([0.0, 0.0])).sum() == 0.0
    # a better tile on top is worth more than the same tiles the other way round
    good_first = first_click_probabilities(np.array([0.8, 0.1])).sum()
    good_last = first_click_probabilities(np.array([0.1, 0.8])).sum()
    assert good_first > good_last


def test_expected_outcome_of_a_hand_made_list():
    value = expected_outcome(np.array([0.55, 0.0]), median_seconds=600.0)
    # only the first tile can be played: P = 0.5 x 0.55; its mean session is the median x
    # exp(sigma^2 / 2) at the pivot affinity 0.55
    assert value.play_through == pytest.approx(0.275)
    assert value.minutes == pytest.approx(0.275 * 600.0 * math.exp(0.5 * 0.9**2) / 60.0)


def test_choose_draws_positions_with_the_cascade_probabilities():
    affinity = np.array([0.6, 0.4, 0.9])
    p = first_click_probabilities(affinity)
    rng = np.random.default_rng(3)
    draws = [choose(affinity, rng) for _ in range(20_000)]
    for position in range(3):
        share = sum(d == position for d in draws) / len(draws)
        assert share == pytest.approx(p[position], abs=0.01)
    assert sum(d is None for d in draws) / len(draws) == pytest.approx(1 - p.sum(), abs=0.01)


def test_true_winner_is_the_variant_whose_lists_are_worth_more():
    def served(variant: str, play_through: float, minutes: float) -> ServedList:
        return ServedList("r", "u", variant, ["s1"], ListValue(play_through, minutes), False)

    lists = [served("control", 0.4, 5.0), served("control", 0.6, 5.0)]
    lists += [served("wide", 0.3, 9.0), served("wide", 0.5, 7.0)]
    winner = true_winner(lists, "play_through")
    assert winner["winner"] == "control" and winner["means"] == {"control": 0.5, "wide": 0.4}
    assert true_winner(lists, "minutes")["winner"] == "wide"


def test_a_clicked_visit_becomes_click_start_heartbeats_and_end():
    visit = ServedList("req-1", "u0000001", "control", ["s000003"], ListValue(0.5, 1.0), False)
    visit.clicked, visit.seconds = "s000003", 700
    start = datetime(2026, 1, 2, 10, tzinfo=UTC)
    rows = play_events(visit, "ses-1", start, heartbeat_seconds=300, base_bet=1.0)
    kinds = [r["event_type"] for r in rows]
    assert kinds == ["click", "session_start", "heartbeat", "heartbeat", "session_end"]
    assert [r.get("duration_seconds", 0.0) for r in rows] == [0.0, 0.0, 300.0, 300.0, 100.0]
    assert {r["request_id"] for r in rows} == {"req-1"}
    assert rows[-1]["occurred_at"] == (start + timedelta(seconds=700)).isoformat(
        timespec="milliseconds"
    )


# --- the truth the lobby uses is the simulator's ---------------------------------------------


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory) -> DataLayout:
    layout = DataLayout(tmp_path_factory.mktemp("lobby-world"))
    simulate_world(SimulationConfig(n_players=50, n_slots=30, days=1, seed=5), layout)
    return layout


def test_lobby_truth_is_the_worlds_truth_and_scores_new_games_from_metadata(tiny_world):
    truth = LobbyTruth.load(tiny_world)
    players, slots = load_truth(tiny_world)
    ids = ["s000001", "s000007", "s000030"]
    expected = true_affinity(players, slots, np.full(3, 4), np.array([0, 6, 29]))
    assert np.allclose(truth.affinity(4, ids), expected)
    # a launch with exactly slot 7's facts is liked exactly as slot 7 is
    from slotrec.core.schema import THEMES, VOLATILITY_LEVELS
    from slotrec.simulator.catalogue import PROVIDERS

    twin = NewGame(
        slot_id="s000999",
        name="Twin",
        provider=PROVIDERS[int(slots.provider[6])],
        theme=THEMES[int(slots.theme[6])],
        volatility=VOLATILITY_LEVELS[int(slots.volatility[6])],
        quality=float(slots.quality[6]),
        latent=slots.latent[6],
    )
    extended = truth.with_new_games([twin])
    same = extended.affinity(4, ["s000007", "s000999"])
    assert same[0] == pytest.approx(same[1]) and same[0] == pytest.approx(expected[1])
    assert truth.affinity(4, ["s000999"])[0] == 0.0  # unknown before the launch


# --- the simulated clock --------------------------------------------------------------------


def test_file_clock_follows_the_file_and_falls_back_to_the_wall_clock(tmp_path: Path):
    path = tmp_path / "clock.json"
    clock = FileClock(path)
    assert abs((clock() - datetime.now(UTC)).total_seconds()) < 1
    target = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    set_simulated_now(path, target)
    assert abs((clock() - target).total_seconds()) < 1
    time.sleep(0.01)  # a new modification time
    set_simulated_now(path, target + timedelta(days=1))
    assert abs((clock() - target - timedelta(days=1)).total_seconds()) < 1
    path.write_text("not json")
    assert abs((clock() - datetime.now(UTC)).total_seconds()) < 1
    with pytest.raises(ValueError, match="timezone-aware"):
        set_simulated_now(path, datetime(2026, 3, 1))


def test_closed_loop_refuses_more_days_than_the_service_accepts(tmp_path: Path):
    with pytest.raises(ValueError, match="between 1 and 6"):
        run_closed_loop(tmp_path, ClosedLoopConfig(days=7))


def test_closed_loop_replaces_only_its_own_data_dir(tmp_path: Path):
    theirs = tmp_path / "theirs"
    (theirs / "raw").mkdir(parents=True)
    with pytest.raises(ValueError, match="empty --data-dir"):
        fresh_data_dir(theirs)
    assert (theirs / "raw").is_dir()  # refused, and nothing deleted
    ours = tmp_path / "ours"
    (ours / "closed_loop").mkdir(parents=True)
    (ours / "raw" / "events").mkdir(parents=True)
    (ours / "note.txt").write_text("x")
    fresh_data_dir(ours)
    assert ours.is_dir() and not any(ours.iterdir())
    fresh_data_dir(tmp_path / "absent")  # nothing there: nothing to do


# --- the whole loop against a real service ----------------------------------------------------


@pytest.mark.slow
def test_closed_loop_days_against_a_real_service(tmp_path: Path):
    config = ClosedLoopConfig(
        players=1_000,
        slots=80,
        history_days=7,
        days=2,
        seed=7,
        lobby=LobbyPlan(players_per_day=300, seed=7),
        new_game_day=2,
        new_game_exposure_cap=20,
        with_monitoring=False,  # the drift reports are not what this test checks
    )
    lines: list[str] = []
    result = run_closed_loop(tmp_path, config, log=lines.append)
    assert len(result.days) == 2
    layout = DataLayout(tmp_path.resolve())
    with duckdb.connect(str(layout.warehouse_path), read_only=True) as con:
        for day, outcome in zip(config.loop_days(), result.days, strict=True):
            lobby = outcome.lobby
            # the service answered every lobby call, from the model
            assert lobby["requests"] >= 300 and lobby["errors"] == 0 and lobby["fallbacks"] == 0
            assert lobby["plays"] > 50 and lobby["events_sent"] > lobby["plays"] * 3
            # what it served and what the players did reached the day's raw files ...
            assert outcome.served_rows >= lobby["events_sent"] + lobby["requests"] * 10
            # ... and the day's marts: every event the lobby sent is a clean event of the day
            row = con.execute(
                "select count(*), count(distinct user_id) from int_events_checked "
                "where delivered_on = ? and reject_reason is null and session_id like 'cl-%'",
                [day],
            ).fetchone()
            assert row is not None
            clean, lobby_users = row
            assert clean == lobby["events_sent"] - lobby["plays"]  # clicks carry no session
            pairs = con.execute(
                "select count(*) from interactions i join (select distinct user_id, slot_id "
                "from int_events_checked where delivered_on = ? and session_id like 'cl-%') "
                "p using (user_id, slot_id)",
                [day],
            ).fetchone()
            played = pairs[0] if pairs else 0
            assert played > 0 and lobby_users > 50
            # the service stamped its impressions on the simulated day (its simulated clock)
            stamps = con.execute(
                "select count(*), min(occurred_at)::date, max(occurred_at)::date "
                "from int_events_checked where delivered_on = ? and event_type = 'impression' "
                "and request_id is not null and reject_reason is null",
                [day],
            ).fetchone()
            assert stamps is not None and stamps[0] >= lobby["requests"] * 10
            assert stamps[1] == day and stamps[2] == day
            # the day's retrain made a bundle; a promoted one was adopted by the service
            assert outcome.bundle is not None
            assert outcome.reload == ("ok" if outcome.promoted else "not_called")
        assert result.days[1].interactions > result.days[0].interactions
    assert any(d.promoted for d in result.days)

    ab = result.ab
    assert ab["status"] == "ok" and set(ab["estimates"]) == {"control", "wide-lobby"}
    assert all(0 < ab["estimates"][v]["play_through"] < 1 for v in ab["estimates"])
    assert ab["true"]["winner"] in {"control", "wide-lobby"}
    assert sum(ab["true"]["lists"].values()) == sum(d.lobby["requests"] for d in result.days)
    assert ab["agreement"] in {"agree", "disagree", "readout undecided"}

    assert len(result.new_games) == 3
    assert sum(g["impressions"] for g in result.new_games) > 0
    assert result.service["requests"]["recommend,ok"] == sum(
        d.lobby["requests"] for d in result.days
    )
    assert (tmp_path / "closed_loop" / "summary.json").exists()
    assert any("service stopped" in line for line in lines)


# --- the demo's first minute, on any day ----------------------------------------------------
# (today, seed, players, slots). The first is the demo's own size on the day it once failed
# (history from 2026-11-24: an at-risk player's overlapping sessions put 27 hours of play on
# one slot in one day, and a dbt test failed the whole day); the rest move the date around.
HISTORY_CASES = [
    (date(2026, 12, 4), 7, 2_000, 200),
    (date(2026, 12, 5), 7, 600, 60),
    (date(2026, 6, 13), 11, 600, 60),
    (date(2027, 1, 3), 3, 600, 60),
    (None, 5, 600, 60),  # whatever today is when CI runs
]


@pytest.mark.slow
@pytest.mark.parametrize(("today", "seed", "players", "slots"), HISTORY_CASES)
def test_the_history_step_passes_on_any_day(tmp_path, today, seed, players, slots):
    config = ClosedLoopConfig(
        players=players, slots=slots, seed=seed, today=today, with_monitoring=False
    )
    settings = demo_settings(tmp_path, admin_token="t")
    prepare_history(settings, config)  # raises RuntimeError naming the step on a failure

    last = config.loop_days()[0] - timedelta(days=1)
    report = json.loads((settings.layout.runs_dir / last.isoformat() / "report.json").read_text())
    assert report["status"] == "ok"
    if players >= 2_000:  # the demo's size: the first bundle must serve
        assert report["training"]["promoted"], report["training"]["gate"]
    # every planted defect of every delivery day is quarantined with its reason, none other
    for run in sorted(settings.layout.runs_dir.glob("*/report.json")):
        for day in json.loads(run.read_text())["ingest"]:
            manifest = json.loads(
                (settings.layout.truth_dir / "dirt" / f"day={day['day']}.json").read_text()
            )
            planted = {k: v for k, v in manifest["rejected"].items() if v}
            assert {k: v for k, v in day["rows_quarantined"].items() if v} == planted
            assert day["rows_out"] == manifest["clean_rows"]
