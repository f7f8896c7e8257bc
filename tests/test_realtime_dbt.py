"""Served events reach tomorrow's marts: record → flush → the real dbt build → interactions.

A tiny simulated world ending today, then a session recorded through `LiveStateStore` for a
player and a slot the world never paired. Slow (real dbt), so marked; CI runs it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow.parquet as pq
import pytest

from bentos.realtime import LiveStateStore, PlayEvent
from slotrec import transform
from slotrec.core.settings import Settings
from slotrec.simulator import SimulationConfig, simulate_world

pytestmark = pytest.mark.slow


def test_recorded_events_are_in_the_marts_after_the_daily_build(tmp_path):
    settings = Settings(data_dir=tmp_path)
    layout = settings.layout
    today = datetime.now(UTC).date()
    start = today - timedelta(days=1)
    config = SimulationConfig(
        seed=11, n_players=60, n_slots=15, days=2, start_date=start, dirt_rate=0.0, late_rate=0.0
    )
    simulate_world(config, layout)
    simulated = pq.read_table(
        [p for p in layout.raw_events_dir.rglob("part-*.parquet")], columns=["user_id", "slot_id"]
    ).to_pylist()
    user = pq.read_table(layout.players_path).column("user_id")[0].as_py()
    slots = pq.read_table(layout.slot_catalogue_path).column("slot_id").to_pylist()
    paired = {r["slot_id"] for r in simulated if r["user_id"] == user}
    slot = next(s for s in slots if s not in paired)

    now = datetime.now(UTC).replace(microsecond=0)

    def event(n: int, event_type: str, minutes_ago: int, seconds: float = 0.0) -> PlayEvent:
        return PlayEvent(
            event_id=f"served-{n}",
            user_id=user,
            slot_id=slot,
            session_id="served-session",
            event_type=event_type,  # type: ignore[arg-type]
            occurred_at=now - timedelta(minutes=minutes_ago),
            duration_seconds=seconds,
            bet_amount=1.0 if seconds else None,
            request_id="req-served",
        )

    live = LiveStateStore(settings)
    session = [
        event(1, "session_start", 30),
        event(2, "heartbeat", 20, 600.0),
        event(3, "heartbeat", 10, 600.0),
        event(4, "session_end", 5, 300.0),
    ]
    live.record(session)
    live.flush()
    live.record([event(3, "heartbeat", 10, 600.0)])  # the lobby retried: a second delivery
    live.close()
    assert live.state(user).recent_play_seconds == {slot: 1500.0}

    transform.build(settings, as_of=today, from_date=start)

    with duckdb.connect(str(layout.warehouse_path), read_only=True) as con:
        checked = con.execute(
            "select event_id, reject_reason, request_id from int_events_checked "
            "where event_id like 'served-%' order by event_id, reject_reason nulls first"
        ).fetchall()
        interaction = con.execute(
            "select play_seconds, session_count from interactions "
            "where user_id = ? and slot_id = ?",
            [user, slot],
        ).fetchone()
    assert checked == [
        ("served-1", None, "req-served"),
        ("served-2", None, "req-served"),
        ("served-3", None, "req-served"),
        ("served-3", "duplicate_event", "req-served"),  # deduped, and counted as such
        ("served-4", None, "req-served"),
    ]
    assert interaction == (1500.0, 1)
