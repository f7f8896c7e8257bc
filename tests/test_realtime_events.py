"""The `events` request schema (`bentos.realtime.events.PlayEvent`): what is refused and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from bentos.realtime.events import PlayEvent

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"user_id": "bad id with spaces"}, "user_id"),
        ({"slot_id": ""}, "slot_id"),
        ({"event_type": "spin"}, "event_type"),
        ({"duration_seconds": -1}, "duration_seconds"),
        ({"duration_seconds": 5 * 3600}, "duration_seconds"),
        ({"bet_amount": -2.0}, "bet_amount"),
        ({"occurred_at": (NOW + timedelta(hours=1)).isoformat()}, "occurred_at"),
        ({"occurred_at": (NOW - timedelta(days=8)).isoformat()}, "occurred_at"),
        ({"session_id": None}, "session_id"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_events_are_refused_naming_the_field(change, field):
    good = {
        "event_id": "e1",
        "user_id": "u1",
        "slot_id": "s1",
        "session_id": "a",
        "event_type": "heartbeat",
        "occurred_at": NOW.isoformat(),
        "duration_seconds": 30.0,
    }
    with pytest.raises(ValidationError) as info:
        PlayEvent.model_validate({**good, **change})
    assert field in str(info.value)


def test_event_accepts_ts_and_naive_utc_and_round_trips_to_the_raw_contract():
    naive = NOW.replace(tzinfo=None).isoformat()
    event = PlayEvent.model_validate(
        {"event_id": "e1", "user_id": "u1", "slot_id": "s1", "session_id": "a",
         "event_type": "session_start", "ts": naive}
    )  # fmt: skip
    assert event.occurred_at == NOW
    row = event.raw_row()
    assert list(row) == [
        "event_id", "user_id", "slot_id", "session_id", "event_type", "occurred_at",
        "duration_seconds", "bet_amount", "win_amount", "request_id",
        "experiment", "variant", "list_position", "guardrails",
    ]  # fmt: skip
    assert row["duration_seconds"] == 0.0 and row["request_id"] is None
    # what the service decides for a list is on its impressions, never on a lobby's event
    assert row["experiment"] is row["variant"] is row["list_position"] is row["guardrails"] is None


def test_schema_examples_are_valid_events():
    examples = PlayEvent.model_json_schema()["examples"]
    assert [PlayEvent.model_validate(e).event_type for e in examples] == [
        "heartbeat",
        "session_start",
    ]
