"""The serving benchmark's own pieces: the day of plays it sends, who plays, its targets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from benchmarks.serve_bench import (
    EVENTS_BATCH,
    HEARTBEAT_SECONDS,
    PlayedDay,
    ServeBenchConfig,
    _session_rows,
    _targets,
    playing_players,
    split_populations,
)
from bentos.realtime.events import PlayEvent

# recent: the service refuses events over 7 days old
NOW = datetime.now(UTC).replace(microsecond=0)


def test_a_finished_session_is_start_heartbeats_and_end_adding_up_to_its_length():
    rows = _session_rows("u1", "s1", "ses-a", NOW - timedelta(hours=2), 70, NOW)
    assert [r["event_type"] for r in rows] == ["session_start", *["heartbeat"] * 14, "session_end"]
    assert sum(r["duration_seconds"] for r in rows) == 70 * 60
    assert len({r["event_id"] for r in rows}) == len(rows)
    # what the service accepts: every row is a valid event of the contract
    events = [PlayEvent(**r) for r in rows]
    assert events[-1].occurred_at == NOW - timedelta(hours=2) + timedelta(minutes=70)


def test_a_running_session_has_no_end_and_its_heartbeats_reach_now():
    rows = _session_rows("u1", "s1", "ses-b", NOW - timedelta(minutes=15), None, NOW)
    assert [r["event_type"] for r in rows] == [
        "session_start",
        "heartbeat",
        "heartbeat",
        "heartbeat",
    ]
    assert all(r["duration_seconds"] == HEARTBEAT_SECONDS for r in rows[1:])


def test_populations_do_not_overlap_and_the_heartbeats_come_from_many_players():
    known = [f"u{i:05d}" for i in range(30_000)]
    config = ServeBenchConfig(mid_session_players=500, event_players=5_000)
    people = split_populations(known, config)
    assert len(people.known_idle) == len(people.mid_session) == 500
    assert not set(people.known_idle) & set(people.mid_session)
    assert not set(people.cold) & set(known)
    running = [(u, "s1", f"ses-{u}") for u in people.mid_session]
    day = PlayedDay(running=running, events=0, batches=0, seconds=0.0, crossed=0)
    playing = playing_players(day, people, known, ["s1", "s2"], config)
    assert len(playing) == 5_000 and playing[:500] == running
    users = [u for u, _, _ in playing]
    assert len(set(users)) == len(users)
    assert not set(users) & set(people.known_idle)
    assert len(set(users)) >= 10 * EVENTS_BATCH  # a batch never repeats a player for a while


def _stats(rps: float, p99: float, **extra: float) -> dict:
    return {"rps": rps, "p99_ms": p99, "errors": 0, **extra}


def test_targets_are_read_off_the_run_itself():
    result = {
        "noop": {"c8": _stats(1_000, 9)},
        "recommend": {"mid_session": {"c8": _stats(650, 19)}},
        "events": {
            "single": {"c8": _stats(1_500, 10, events_per_s=1_500)},
            f"batch{EVENTS_BATCH}": {
                "c1": _stats(40, 45, events_per_s=8_000),
                "c2": _stats(55, 49, events_per_s=11_000),
            },
        },
        "mix": {"c8": {"recommend": _stats(300, 60), "events": _stats(30, 90)}},
    }
    targets = _targets(result, {"max_ms": 12})
    assert targets == {
        "mid_session_c8_rps_ge_60pct_noop": True,
        "mid_session_c8_p99_le_20ms": True,
        "events_batch_ge_10k_per_s_p99_le_50ms": True,
        "events_single_ge_2k_per_s": False,
        "freshness_under_1s": True,
        "zero_errors": True,
    }
    result["mix"]["c8"]["events"]["errors"] = 1
    assert _targets(result, {"max_ms": 12})["zero_errors"] is False
