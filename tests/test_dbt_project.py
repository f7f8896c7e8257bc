"""End-to-end tests of the dbt project on a tiny raw world written by hand.

The world has four players, four slots and two delivery days (2026-01-06, 2026-01-07). Every
reject reason is planted by hand, plus a late event, an event delivered the day before it
happened (inside the tolerance), and duplicates inside one delivery and across the two. The
tests run the real `dbt build` and assert exact numbers worked out in the comments.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from slotrec.core.schema import (
    ONBOARDING_SCHEMA,
    PLAYER_SCHEMA,
    RAW_EVENT_SCHEMA,
    REJECT_REASONS,
    SLOT_CATALOGUE_SCHEMA,
)
from slotrec.core.settings import DataLayout

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"
DAY_1 = date(2026, 1, 6)
DAY_2 = date(2026, 1, 7)

pytestmark = pytest.mark.slow


def at(text: str) -> datetime:
    """A UTC timestamp from 'YYYY-MM-DD HH:MM[:SS]'."""
    fmt = "%Y-%m-%d %H:%M:%S" if text.count(":") == 2 else "%Y-%m-%d %H:%M"
    return datetime.strptime(text, fmt).replace(tzinfo=UTC)


def event(
    event_id: str | None,
    user_id: str | None,
    slot_id: str | None,
    session_id: str | None,
    event_type: str | None,
    occurred_at: str | None,
    duration_seconds: float | None = 0.0,
    bet_amount: float | None = 0.0,
    win_amount: float | None = 0.0,
) -> dict[str, object]:
    """One clean raw event row (`_reason` is what the test expects dbt to reject it for)."""
    return {
        "event_id": event_id,
        "user_id": user_id,
        "slot_id": slot_id,
        "session_id": session_id,
        "event_type": event_type,
        "occurred_at": at(occurred_at) if occurred_at else None,
        "duration_seconds": duration_seconds,
        "bet_amount": bet_amount,
        "win_amount": win_amount,
        "request_id": None,
        "_reason": None,
    }


def dirty(reason: str, event_id: str, **changes: object) -> dict[str, object]:
    """A u1-on-s1 heartbeat of 60 s at 2026-01-06 13:00, broken by `changes`."""
    row = event(event_id, "u1", "s1", "sx", "heartbeat", "2026-01-06 13:00", 60)
    if isinstance(changes.get("occurred_at"), str):
        changes["occurred_at"] = at(str(changes["occurred_at"]))
    return {**row, **changes, "_reason": reason}


def copy_of(row: dict[str, object], **changes: object) -> dict[str, object]:
    """A re-sent copy of `row` (same event_id): a duplicate_event."""
    return {**row, **changes, "_reason": "duplicate_event"}


# --- the world ----------------------------------------------------------------------------
PLAYERS = [
    # registration order decides user_idx: u2 (0), u1 (1), u3 (2), then u4 on day 2 (3)
    {"user_id": "u1", "registered_at": at("2025-12-01 00:00"), "country": "GB"},
    {"user_id": "u2", "registered_at": at("2025-11-01 00:00"), "country": "MT"},
    {"user_id": "u3", "registered_at": at("2025-12-01 00:00"), "country": "SE"},
    {"user_id": "u4", "registered_at": at("2026-01-07 08:00"), "country": "DE"},
    {"user_id": "u_future", "registered_at": at("2026-02-01 00:00"), "country": "GB"},
]

SLOTS = [
    # release order decides slot_idx: s2 (0), s1 (1), then s3 on day 2 (2)
    {
        "slot_id": "s1",
        "name": "Jungle Quest",
        "provider": "pa",
        "theme": "adventure",
        "volatility": "low",
        "rtp": 0.96,
        "max_win_multiplier": 5000.0,
        "has_bonus_buy": False,
        "released_at": at("2025-06-01 00:00"),
        "is_active": True,
        "jurisdictions": "GB,MT",
    },
    {
        "slot_id": "s2",
        "name": "Pharaoh Gold",
        "provider": "pb",
        "theme": "egypt",
        "volatility": "high",
        "rtp": 0.95,
        "max_win_multiplier": 10000.0,
        "has_bonus_buy": True,
        "released_at": at("2025-05-01 00:00"),
        "is_active": True,
        "jurisdictions": "GB",
    },
    {
        "slot_id": "s3",
        "name": "Big Catch",
        "provider": "pa",
        "theme": "fishing",
        "volatility": "medium",
        "rtp": 0.97,
        "max_win_multiplier": 2500.0,
        "has_bonus_buy": False,
        "released_at": at("2026-01-07 06:00"),
        "is_active": True,
        "jurisdictions": "GB,SE",
    },
    {
        "slot_id": "s_future",
        "name": "Coming Soon",
        "provider": "pc",
        "theme": "space",
        "volatility": "very_high",
        "rtp": 0.94,
        "max_win_multiplier": 20000.0,
        "has_bonus_buy": True,
        "released_at": at("2026-03-01 00:00"),
        "is_active": False,
        "jurisdictions": "GB",
    },
]

ONBOARDING = [
    {
        "user_id": "u3",
        "answered_at": at("2025-12-01 00:05"),
        "preferred_themes": "fishing",
        "preferred_volatility": "low",
        "preferred_providers": None,
    },
    {
        "user_id": "u4",
        "answered_at": at("2026-01-07 08:01"),
        "preferred_themes": None,
        "preferred_volatility": None,
        "preferred_providers": "pa",
    },
]

# Delivery day 1 arrives as two files; the order (file, row) decides which copy is "first".
SESSION_A = [
    # session sa: u1 on s1, 60 + 60 + 30 = 150 s of play on 2026-01-06
    event("e-a1", "u1", "s1", "sa", "session_start", "2026-01-06 10:00"),
    event("e-a2", "u1", "s1", "sa", "heartbeat", "2026-01-06 10:01", 60, 10, 5),
    event("e-a3", "u1", "s1", "sa", "heartbeat", "2026-01-06 10:02", 60, 10, 0),
    event("e-a4", "u1", "s1", "sa", "session_end", "2026-01-06 10:02:30", 30, 5, 20),
]
SESSION_B = [
    # session sb: u1 on s2, 600 s
    event("e-b1", "u1", "s2", "sb", "session_start", "2026-01-06 11:00"),
    event("e-b2", "u1", "s2", "sb", "session_end", "2026-01-06 11:10", 600, 50, 0),
]
SESSION_C = [
    # session sc: u2 on s1, 300 + 60 = 360 s
    event("e-c1", "u2", "s1", "sc", "session_start", "2026-01-06 12:00"),
    event("e-c2", "u2", "s1", "sc", "heartbeat", "2026-01-06 12:05", 300, 2, 0),
    event("e-c3", "u2", "s1", "sc", "session_end", "2026-01-06 12:06", 60, 1, 0),
]

SESSION_G = [
    event("e-g0", "u2", "s1", "sg", "session_start", "2026-01-05 00:00"),
    *(
        event(f"e-g{h}", "u2", "s1", "sg", "heartbeat", f"2026-01-05 {4 * h:02d}:00", 14400, 1, 0)
        for h in range(1, 6)
    ),
    event("e-g6", "u2", "s1", "sg", "session_end", "2026-01-05 23:00", 10800, 1, 0),
]

DAY_1_FILE_0 = [
    *SESSION_A,
    *SESSION_B,
    *SESSION_C,
    # clicks and impressions count, but carry no play
    event("e-k1", "u1", "s2", None, "click", "2026-01-06 11:20", None, None, None),
    event("e-i1", "u1", "s1", None, "impression", "2026-01-06 09:59", None, None, None),
    event("e-i2", "u2", "s2", None, "impression", "2026-01-06 09:59", None, None, None),
    # dirt, one rule each
    dirty("null_required_field", "x-01", user_id=None),
    dirty("null_required_field", "x-02", duration_seconds=None),
    # null AND unknown type: the first rule wins
    dirty("null_required_field", "x-03", slot_id=None, event_type="spin"),
    dirty("unknown_event_type", "x-04", event_type="spin"),
    # 00:20 is past the end of day 1 plus the 600 s tolerance
    dirty("future_timestamp", "x-05", occurred_at="2026-01-07 00:20"),
    # before 2025-12-30 00:00 = start of day 1 minus 7 days
    dirty("too_late", "x-06", occurred_at="2025-12-29 23:00"),
    dirty("negative_duration", "x-07", duration_seconds=-5.0),
    dirty("absurd_duration", "x-08", duration_seconds=20000.0),
    dirty("negative_amount", "x-09", bet_amount=-1.0),
    dirty("unknown_user", "x-10", user_id="u_ghost"),
    # u4 registers on day 2, s3 is released on day 2: both unknown on day 1
    dirty("unknown_user", "x-11", user_id="u4"),
    dirty("unknown_slot", "x-12", slot_id="s_ghost"),
    dirty("unknown_slot", "x-13", slot_id="s3"),
    # negative duration beats unknown slot
    dirty("negative_duration", "x-14", slot_id="s_ghost", duration_seconds=-1.0),
    # a stake no event can carry (above the max_event_amount run setting, 1e6)
    dirty("absurd_amount", "x-15", bet_amount=1e308),
    # --- rows each valid, but not together: the rules on play as a whole ---
    # e-a2 re-sent 2 s later under a new id: it claims 10:00:02-10:01:02, which e-a2 covered
    {
        **event("e-a2r", "u1", "s1", "sa", "heartbeat", "2026-01-06 10:01:02", 60, 10, 5),
        "_reason": "overlapping_play",
    },
    # a second tab on s1 (session sa2, 10:00:30-10:01:30) while sa (10:00-10:02:30) runs
    {
        **event("e-s1", "u1", "s1", "sa2", "session_start", "2026-01-06 10:00:30"),
        "_reason": "overlapping_session",
    },
    {
        **event("e-s2", "u1", "s1", "sa2", "session_end", "2026-01-06 10:01:30", 60, 5, 0),
        "_reason": "overlapping_session",
    },
]

DAY_1_FILE_1 = [
    # a re-send of e-a2 in the same delivery: the copy in the later file is the duplicate
    copy_of(SESSION_A[1]),
    # late but in time: session sl, u2 on s2, 1200 s played on 2025-12-30
    event("e-l1", "u2", "s2", "sl", "session_start", "2025-12-30 12:00"),
    event("e-l2", "u2", "s2", "sl", "session_end", "2025-12-30 12:20", 1200, 40, 0),
    # 00:05 on day 2 is inside the 600 s tolerance of day 1: clean, played on 2026-01-07
    event("e-t1", "u3", "s1", None, "click", "2026-01-07 00:05", None, None, None),
    # u2's 2026-01-05, delivered late: session sg on s1 from 00:00 claims 5 x 14400 + 10800 =
    # 82,800 s; a second tab on s2 (sh, 10:00-11:30, 5,400 s) is allowed on another slot, but
    # it takes the day to 88,200 s, past the 86,400 a day holds: sh is out, sg stays
    *SESSION_G,
    {
        **event("e-h1", "u2", "s2", "sh", "session_start", "2026-01-05 10:00"),
        "_reason": "over_day_capacity",
    },
    {
        **event("e-h2", "u2", "s2", "sh", "session_end", "2026-01-05 11:30", 5400, 5, 0),
        "_reason": "over_day_capacity",
    },
]

DAY_2_FILE_0 = [
    # session sd: the new player u4 on the new slot s3, 1800 s
    event("e-d1", "u4", "s3", "sd", "session_start", "2026-01-07 09:00"),
    event("e-d2", "u4", "s3", "sd", "session_end", "2026-01-07 09:30", 1800, 30, 0),
    # session se: u1 on s1 again, 120 s
    event("e-e1", "u1", "s1", "se", "session_start", "2026-01-07 20:00"),
    event("e-e2", "u1", "s1", "se", "heartbeat", "2026-01-07 20:01", 60, 10, 0),
    event("e-e3", "u1", "s1", "se", "session_end", "2026-01-07 20:02", 60, 10, 0),
    # late session sf: u3 on s2, 300 s played on 2026-01-05, delivered on day 2
    event("e-f1", "u3", "s2", "sf", "session_start", "2026-01-05 08:00"),
    event("e-f2", "u3", "s2", "sf", "session_end", "2026-01-05 08:05", 300, 3, 0),
    # a re-send of a day-1 event: a duplicate across deliveries
    copy_of(SESSION_B[1]),
    # a copy that is also negative: duplicate_event comes first
    copy_of(SESSION_C[1], duration_seconds=-300.0),
    # before 2025-12-31 00:00 = start of day 2 minus 7 days
    dirty("too_late", "x-21", occurred_at="2025-12-30 12:00"),
]

DAYS = {DAY_1: [DAY_1_FILE_0, DAY_1_FILE_1], DAY_2: [DAY_2_FILE_0]}


def write_world(root: Path) -> DataLayout:
    """Write the raw files of the tiny world under `root`, laid out as DataLayout says."""
    layout = DataLayout(root)
    for path, rows, schema in [
        (layout.players_path, PLAYERS, PLAYER_SCHEMA),
        (layout.slot_catalogue_path, SLOTS, SLOT_CATALOGUE_SCHEMA),
        (layout.onboarding_path, ONBOARDING, ONBOARDING_SCHEMA),
    ]:
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    for day, files in DAYS.items():
        day_dir = layout.raw_events_day_dir(day)
        day_dir.mkdir(parents=True, exist_ok=True)
        for number, rows in enumerate(files):
            table = pa.Table.from_pylist(
                [{k: v for k, v in row.items() if k != "_reason"} for row in rows],
                schema=RAW_EVENT_SCHEMA,
            )
            pq.write_table(table, day_dir / f"part-{number}.parquet")
    return layout


def planted_reasons(day: date) -> Counter[str]:
    """How many rows of each reject reason the world plants in one delivery day."""
    return Counter(str(row["_reason"]) for rows in DAYS[day] for row in rows if row["_reason"])


def run_dbt(
    data_dir: Path,
    warehouse: Path,
    as_of: date,
    from_date: date | None = None,
    extra_args: tuple[str, ...] = (),
    window_in_vars: bool = False,
    command: tuple[str, ...] = ("build", "--exclude-resource-type", "unit_test"),
) -> subprocess.CompletedProcess[str]:
    """Run dbt (by default `dbt build` as in production) for one window, and fail loudly.

    The window goes in the environment, as slotrec/transform.py passes it, or with
    `window_in_vars` in `--vars`, as a person runs dbt by hand. Consecutive runs on one
    warehouse share its target folder, so they also exercise dbt's partial parsing.
    """
    run_vars = {"as_of": as_of.isoformat(), "data_dir": str(data_dir)}
    if from_date is not None:
        run_vars["from_date"] = from_date.isoformat()
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    window_args = ["--vars", json.dumps(run_vars)] if window_in_vars else []
    window_env = {} if window_in_vars else {f"SLOTREC_{k.upper()}": v for k, v in run_vars.items()}
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SLOTREC_")},
        **window_env,
        "SLOTREC_WAREHOUSE_PATH": str(warehouse),
        "SLOTREC_DBT_THREADS": "2",
        "SLOTREC_DUCKDB_MEMORY_LIMIT": "2GB",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    dbt = shutil.which("dbt", path=str(Path(sys.executable).parent)) or "dbt"
    target = warehouse.parent / "dbt_target"
    result = subprocess.run(
        [
            dbt,
            *command,
            "--profiles-dir",
            ".",
            *window_args,
            "--target-path",
            str(target),
            "--log-path",
            str(target / "logs"),
            *extra_args,
        ],
        cwd=DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    return result


MODELS = (
    "int_events_checked",
    "delivery_checks",
    "user_slot_days",
    "recommendation_events",
    "int_sessions_rolled_to_user_slot_days",
    "quarantined_events",
    "daily_ingest_counts",
    "user_index",
    "slot_index",
    "users",
    "slots",
    "interactions",
    "user_features",
    "slot_features",
)


def read_table(
    warehouse: Path, table: str, exclude: tuple[str, ...] = ()
) -> list[tuple[object, ...]]:
    """Every row of a warehouse table, in a stable order (optionally without some columns)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns = [
            name
            for (name,) in con.execute(
                "select column_name from information_schema.columns"
                " where table_name = ? order by ordinal_position",
                [table],
            ).fetchall()
            if name not in exclude
        ]
        select = ", ".join(columns)
        return con.execute(f"select {select} from {table} order by all").fetchall()


def query(warehouse: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


Snapshot = dict[str, list[tuple[object, ...]]]


@dataclass(frozen=True)
class BuiltWorld:
    """The tiny world after day 1, day 2 and a re-run of day 2, with every table after each."""

    layout: DataLayout
    warehouse: Path
    after_day_1: Snapshot
    after_day_2: Snapshot
    after_rerun: Snapshot


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> BuiltWorld:
    root = tmp_path_factory.mktemp("dbt_world")
    layout = write_world(root / "data")
    warehouse = root / "warehouse" / "slotrec.duckdb"
    snapshots = []
    for as_of in (DAY_1, DAY_2, DAY_2):
        run_dbt(layout.root, warehouse, as_of=as_of)
        snapshots.append({model: read_table(warehouse, model) for model in MODELS})
    return BuiltWorld(layout, warehouse, *snapshots)


def test_quarantine_counts_equal_the_planted_dirt(world: BuiltWorld) -> None:
    assert set(planted_reasons(DAY_1)) == set(REJECT_REASONS), "the world plants every reason"
    warehouse = world.warehouse
    for day in DAYS:
        quarantined = dict(
            query(
                warehouse,
                "select reject_reason, count(*) from quarantined_events"
                f" where delivered_on = date '{day}' group by reject_reason",
            )
        )
        assert quarantined == dict(planted_reasons(day)), day
        # the run report's view: one row per outcome, zeros included, rows in = rows out + rejected
        counts = dict(
            query(
                warehouse,
                "select outcome, row_count from daily_ingest_counts"
                f" where delivered_on = date '{day}'",
            )
        )
        assert set(counts) == {"clean", *REJECT_REASONS}
        assert {k: v for k, v in counts.items() if k != "clean" and v} == dict(planted_reasons(day))
        staged = sum(len(rows) for rows in DAYS[day])
        assert counts["clean"] == staged - sum(planted_reasons(day).values())
        assert sum(counts.values()) == staged


def test_quarantined_rows_keep_their_source(world: BuiltWorld) -> None:
    rows = query(
        world.warehouse,
        "select event_id, source_file, source_row_number, reject_reason from quarantined_events"
        " where event_id = 'e-a2'",
    )
    # the copy in the second file of day 1 is the duplicate, the original stays clean
    assert rows == [("e-a2", "raw/events/day=2026-01-06/part-1.parquet", 0, "duplicate_event")]


def test_interactions_hand_computed(world: BuiltWorld) -> None:
    rows = query(
        world.warehouse,
        "select user_id, slot_id, play_seconds, session_count, active_days,"
        " days_since_last_play, normalized_score from interactions order by user_id, slot_id",
    )
    by_pair = {(user, slot): rest for user, slot, *rest in rows}
    # u1 on s1: 150 s on day 1 (session sa) + 120 s on day 2 (session se); its best slot is s2
    play_seconds, sessions, active_days, recency, score = by_pair[("u1", "s1")]
    assert (play_seconds, sessions, active_days, recency) == (270.0, 2, 2, 0)
    assert score == pytest.approx(math.log(271) / math.log(601), rel=1e-12)
    assert by_pair[("u1", "s2")] == [600.0, 1, 1, 1, 1.0]
    # late but in time: u2's 2025-12-30 session and u3's 2026-01-05 session count
    assert by_pair[("u2", "s2")][:4] == [1200.0, 1, 1, 8]
    assert by_pair[("u3", "s2")][:4] == [300.0, 1, 1, 2]
    # nothing from quarantined rows (u_ghost, s_ghost, duplicates) and no click-only pairs
    assert set(by_pair) == {
        ("u1", "s1"),
        ("u1", "s2"),
        ("u2", "s1"),
        ("u2", "s2"),
        ("u3", "s2"),
        ("u4", "s3"),
    }


def test_indices_are_stable_and_appended(world: BuiltWorld) -> None:
    def index(snapshot: Snapshot, model: str) -> dict[object, object]:
        return {row[0]: row[1] for row in snapshot[model]}

    day_1, day_2 = world.after_day_1, world.after_day_2
    assert index(day_1, "user_index") == {"u2": 0, "u1": 1, "u3": 2}
    assert index(day_2, "user_index") == {"u2": 0, "u1": 1, "u3": 2, "u4": 3}
    assert index(day_1, "slot_index") == {"s2": 0, "s1": 1}
    assert index(day_2, "slot_index") == {"s2": 0, "s1": 1, "s3": 2}
    # marts carry the same indices; unreleased slots and unregistered players are absent
    users = {row[0]: row[1] for row in day_2["users"]}
    slots = {row[0]: row[1] for row in day_2["slots"]}
    assert users == index(day_2, "user_index")
    assert slots == index(day_2, "slot_index")


def test_rerunning_a_day_changes_nothing(world: BuiltWorld) -> None:
    for model in MODELS:
        assert world.after_rerun[model] == world.after_day_2[model], model
    rows = query(
        world.warehouse,
        "select count(*), count(distinct (source_file, source_row_number)) from int_events_checked",
    )
    assert rows == [(sum(len(rows) for files in DAYS.values() for rows in files),) * 2]


def test_slot_features_windows(world: BuiltWorld) -> None:
    rows = query(
        world.warehouse,
        "select snapshot_on, players_1d, players_7d, players_30d, play_seconds_1d,"
        " play_seconds_7d, play_seconds_30d, popularity_trend, distinct_players_total"
        " from slot_features where slot_id = 's2' order by snapshot_on",
    )
    # 2026-01-06 sees u1 (600 s that day) and u2's late 1200 s of 2025-12-30: in the 30-day
    # window, not in the 7-day one but in the 7 days before it (trend (600 - 1200) / 1800).
    # 2026-01-07 adds u3's 300 s of 2026-01-05, delivered that day.
    assert rows == [
        (DAY_1, 1, 1, 2, 600.0, 600.0, 1800.0, pytest.approx(-1 / 3), 2),
        (DAY_2, 0, 2, 3, 0.0, 900.0, 2100.0, pytest.approx(-1 / 7), 3),
    ]


def test_user_features_window(world: BuiltWorld) -> None:
    rows = query(
        world.warehouse,
        "select snapshot_on, feature_timestamp, days_since_last_play, active_days_30d,"
        " play_seconds_30d, session_count_30d, avg_bet_30d, theme_share_adventure,"
        " theme_share_egypt, volatility_share_high, favourite_provider, favourite_provider_share"
        " from user_features where user_id = 'u1' order by snapshot_on",
    )
    # day 2: s1 (adventure, low, pa) 150 + 120 s, s2 (egypt, high, pb) 600 s;
    # bets 10 + 10 + 5 + 50 + 10 + 10 over 6 bet-carrying events
    assert rows[1] == (
        DAY_2,
        datetime(2026, 1, 8),
        0,
        2,
        870.0,
        3,
        pytest.approx(95 / 6),
        pytest.approx(270 / 870),
        pytest.approx(600 / 870),
        pytest.approx(600 / 870),
        "pb",
        pytest.approx(600 / 870),
    )


def test_backfill_equals_daily_runs(world: BuiltWorld, tmp_path: Path) -> None:
    """One run over both days builds what the two daily runs built (point in time)."""
    layout = world.layout
    warehouse = tmp_path / "warehouse" / "slotrec.duckdb"
    run_dbt(layout.root, warehouse, as_of=DAY_2, from_date=DAY_1)
    for model in MODELS:
        # the index records which run appended an id; the ids and indices themselves agree
        exclude = ("indexed_on",) if model.endswith("_index") else ()
        daily = world.after_day_2[model]
        if exclude:
            daily = read_table(world.warehouse, model, exclude)
        assert read_table(warehouse, model, exclude) == daily, model


def test_backfill_window_is_pruned_to_its_days(world: BuiltWorld, tmp_path: Path) -> None:
    """A run reads only the delivery folders of its window."""
    layout = world.layout
    warehouse = tmp_path / "warehouse" / "slotrec.duckdb"
    run_dbt(layout.root, warehouse, as_of=DAY_2, window_in_vars=True)
    delivered = query(warehouse, "select distinct delivered_on from int_events_checked")
    assert delivered == [(DAY_2,)]
    # a first build on day 2 indexes everyone registered by then, in registration order
    assert read_table(warehouse, "user_index", ("first_seen_at", "indexed_on")) == [
        ("u1", 1),
        ("u2", 0),
        ("u3", 2),
        ("u4", 3),
    ]


def test_full_refresh_keeps_the_indices(world: BuiltWorld, tmp_path: Path) -> None:
    """`dbt build --full-refresh` rebuilds the marts but never renumbers users or slots."""
    warehouse = tmp_path / "warehouse" / "slotrec.duckdb"
    warehouse.parent.mkdir(parents=True)
    shutil.copy(world.warehouse, warehouse)
    run_dbt(world.layout.root, warehouse, as_of=DAY_2, extra_args=("--full-refresh",))
    for model in ("user_index", "slot_index"):
        assert read_table(warehouse, model) == world.after_day_2[model], model


def test_dbt_unit_tests_pass(world: BuiltWorld, tmp_path: Path) -> None:
    """Every dbt unit test (dedupe, scoring, windows) passes; production builds skip them."""
    warehouse = tmp_path / "warehouse" / "slotrec.duckdb"
    warehouse.parent.mkdir(parents=True)
    shutil.copy(world.warehouse, warehouse)
    run_dbt(
        world.layout.root,
        warehouse,
        as_of=DAY_2,
        command=("test", "--select", "test_type:unit"),
    )
    defined = sum(
        len(yaml.safe_load(path.read_text())["unit_tests"])
        for path in DBT_PROJECT_DIR.glob("models/*/_unit_tests.yml")
    )
    results = json.loads((warehouse.parent / "dbt_target" / "run_results.json").read_text())
    statuses = Counter(
        r["status"] for r in results["results"] if r["unique_id"].startswith("unit_test.")
    )
    assert defined >= 5
    assert statuses == {"pass": defined}


@pytest.mark.parametrize(
    ("module", "name", "parameters"),
    [
        ("training.data", "DAILY_PLAYS_QUERY", (DAY_1, DAY_2, DAY_2)),
        ("training.data", "POPULARITY_QUERY", (DAY_1, DAY_2, DAY_2)),
        ("monitoring.data_drift", "INTERACTIONS_QUERY", (DAY_1, DAY_2)),
        ("monitoring.ab_daily", "EVENTS_QUERY", (DAY_2,)),
        ("monitoring.daily", "SERVED_IMPRESSIONS_QUERY", (DAY_1, DAY_2)),
        ("monitoring.responsible_play", "IMPRESSIONS_QUERY", (DAY_1, DAY_2)),
        ("slotrec.core.run_report", "INGEST_COUNTS_QUERY", (DAY_1, DAY_2)),
    ],
)
def test_every_python_reader_runs_on_the_marts(world: BuiltWorld, module, name, parameters):
    """The SQL Python runs against the warehouse reads published marts, and their columns are
    there: a mart renaming or dropping a column a reader needs fails here, not in production."""
    import importlib

    query = getattr(importlib.import_module(module), name)
    with duckdb.connect(str(world.warehouse), read_only=True) as con:
        rows = con.execute(query, list(parameters)).fetchall()
    if name in ("DAILY_PLAYS_QUERY", "INGEST_COUNTS_QUERY"):
        assert rows  # the tiny world has play and ingest counts on these days
