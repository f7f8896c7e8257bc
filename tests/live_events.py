"""Play events for the real-time tests, stamped relative to now (the schema refuses old ones)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bentos.realtime.events import PlayEvent


def play_event(
    event_id: str,
    user: str,
    event_type: str = "heartbeat",
    *,
    slot: str = "s1",
    session: str = "a",
    seconds: float = 0.0,
    minutes_ago: float = 0.0,
    now: datetime | None = None,
) -> PlayEvent:
    """A validated play event of `user` on `slot`, `minutes_ago` before `now` (default: now)."""
    return PlayEvent(
        event_id=event_id,
        user_id=user,
        slot_id=slot,
        session_id=session,
        event_type=event_type,  # type: ignore[arg-type]
        occurred_at=(now or datetime.now(UTC)) - timedelta(minutes=minutes_ago),
        duration_seconds=seconds,
    )
