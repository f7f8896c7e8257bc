"""The real-time rule set (`bentos.realtime.state.apply_events`) on hand-made event sequences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bentos.realtime.events import PlayEvent
from bentos.realtime.state import (
    REMEMBERED_EVENTS,
    LiveRules,
    ThresholdCrossing,
    UserLiveState,
    apply_events,
    event_key,
)
from tests.live_events import play_event

NOW = datetime.now(UTC).replace(microsecond=0)
RULES = LiveRules(threshold_seconds=600.0, window=3, max_age=timedelta(hours=48))


def ev(n: int, event_type: str, **fields: Any) -> PlayEvent:
    return play_event(f"e{n}", "u1", event_type, now=NOW, **fields)


def run(*events: PlayEvent, state: UserLiveState | None = None):
    return apply_events(state or UserLiveState("u1"), events, RULES, NOW)


def test_heartbeats_add_time_and_cross_once_per_session():
    state, crossed = run(
        ev(1, "session_start", minutes_ago=30),
        ev(2, "heartbeat", seconds=300, minutes_ago=25),
        ev(3, "heartbeat", seconds=300, minutes_ago=20),  # 600 s: the threshold
        ev(4, "heartbeat", seconds=300, minutes_ago=15),
    )
    assert crossed == [ThresholdCrossing("u1", "s1", 600.0)]
    assert state.current_slot == "s1"
    assert state.current_slot_seconds == 900.0
    assert state.recent_play_seconds == {"s1": 900.0}
    # more time in the same session reports nothing new
    state, crossed = run(ev(5, "heartbeat", seconds=300, minutes_ago=10), state=state)
    assert crossed == []
    assert state.current_slot_seconds == 1200.0


def test_session_start_resets_the_time_and_a_new_session_may_cross_again():
    state, crossed = run(
        ev(1, "session_start", minutes_ago=60),
        ev(2, "heartbeat", seconds=700, minutes_ago=48),
    )
    assert len(crossed) == 1
    state, crossed = run(ev(3, "session_start", session="b", minutes_ago=40), state=state)
    assert crossed == []
    assert state.current_slot_seconds == 0.0
    assert state.recent_play_seconds == {"s1": 700.0}  # the window keeps the slot's total
    state, crossed = run(
        ev(4, "session_end", session="b", seconds=650, minutes_ago=29), state=state
    )
    assert crossed == [ThresholdCrossing("u1", "s1", 650.0)]
    assert state.current_slot is None and state.current_slot_seconds == 0.0
    assert state.recent_play_seconds == {"s1": 1350.0}


def test_a_played_slot_is_in_played_slots_at_once_most_recent_first():
    state, _ = run(
        ev(1, "session_start", slot="s1", session="a", minutes_ago=30),
        ev(2, "session_start", slot="s2", session="b", minutes_ago=20),
        ev(3, "heartbeat", slot="s3", session="c", seconds=60, minutes_ago=10),
    )
    assert state.played_slots == ["s3", "s2", "s1"]
    assert state.current_slot == "s3"  # a heartbeat of an unseen session opens it
    assert state.current_slot_seconds == 60.0


def test_clicks_and_impressions_do_not_count_as_plays():
    state, crossed = run(
        PlayEvent(event_id="c1", user_id="u1", slot_id="s9", event_type="click", occurred_at=NOW),
        PlayEvent(
            event_id="i1", user_id="u1", slot_id="s8", event_type="impression", occurred_at=NOW
        ),
    )
    assert state.played_slots == [] and crossed == []
    assert state.updated_at is None


def test_redelivered_event_changes_nothing():
    first, _ = run(ev(1, "session_start", minutes_ago=5), ev(2, "heartbeat", seconds=120))
    again, crossed = run(ev(2, "heartbeat", seconds=120), state=first)
    assert again.current_slot_seconds == 120.0
    assert again.recent_play_seconds == {"s1": 120.0}
    assert crossed == []


def test_events_in_one_batch_are_applied_in_time_order():
    state, crossed = run(
        ev(2, "heartbeat", seconds=400, minutes_ago=5),
        ev(3, "heartbeat", seconds=400, minutes_ago=1),
        ev(1, "session_start", minutes_ago=10),
    )
    assert state.current_slot_seconds == 800.0
    assert crossed == [ThresholdCrossing("u1", "s1", 800.0)]


def test_a_late_event_of_an_older_session_does_not_disturb_the_current_one():
    state, _ = run(
        ev(1, "session_start", slot="s1", session="a", minutes_ago=60),
        ev(2, "session_start", slot="s2", session="b", minutes_ago=10),
        ev(3, "heartbeat", slot="s2", session="b", seconds=100, minutes_ago=5),
    )
    late, crossed = run(
        ev(4, "heartbeat", slot="s1", session="a", seconds=900, minutes_ago=50), state=state
    )
    assert late.current_slot == "s2" and late.current_slot_seconds == 100.0
    assert late.recent_play_seconds == {"s2": 100.0, "s1": 900.0}
    assert late.played_slots == ["s2", "s1"]  # ordered by when played, not by arrival
    assert crossed == []


def test_window_keeps_the_newest_slots_and_drops_old_ones():
    state, _ = run(
        ev(1, "session_start", slot="old", session="z", minutes_ago=60 * 24 * 3),
        *[
            ev(10 + i, "session_start", slot=f"s{i}", session=f"x{i}", minutes_ago=50 - i)
            for i in range(4)
        ],
    )
    assert state.played_slots == ["s3", "s2", "s1"]  # window 3; "old" is past max_age
    assert set(state.recent_play_seconds) == {"s3", "s2", "s1"}


def test_remembered_events_are_bounded_digests():
    events = [ev(i, "heartbeat", seconds=1, minutes_ago=0) for i in range(REMEMBERED_EVENTS + 10)]
    state, _ = run(*events)
    assert len(state.recent_event_keys) == REMEMBERED_EVENTS
    assert state.recent_event_keys[-1] == event_key(f"e{REMEMBERED_EVENTS + 9}")
    assert len(state.recent_event_keys[-1]) == 16  # 64 bits, whatever the id's length
    # the newest are remembered: sending them again changes nothing
    again, _ = apply_events(state, events[-REMEMBERED_EVENTS:], RULES, NOW)
    assert again.recent_play_seconds == state.recent_play_seconds
