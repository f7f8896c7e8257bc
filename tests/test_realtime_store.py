"""`LiveStateStore` on a real Feast online store (SQLite) and real raw files in a tmp folder."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from bentos.realtime import (
    LiveStateStore,
    LiveStateUnavailable,
    PlayEvent,
    ThresholdCrossing,
    sqlite_bulk,
)
from bentos.realtime.push import OnlinePusher
from bentos.realtime.raw_sink import SERVED_FILE_PREFIX
from bentos.realtime.read import OnlineReader, uses_fast_path
from bentos.realtime.sqlite_bulk import SqliteBulk
from bentos.realtime.store import (
    PLAY_PUSH,
    PLAY_STATE_KEYS,
    PLAY_VIEW,
    PROFILE_VIEW,
    READ_FEATURES,
    READ_REFS,
)
from feature_repo import store as feast_repo
from slotrec import ingest
from slotrec.core import schema
from slotrec.core.settings import Settings
from tests.live_events import play_event

THRESHOLD = 600.0


def settings_for(root: Path, **overrides: object) -> Settings:
    return Settings(data_dir=root, play_threshold_seconds=THRESHOLD, **overrides)  # type: ignore[arg-type]


def play(n: int, user: str, event_type: str = "heartbeat", **fields: Any) -> PlayEvent:
    return play_event(f"{user}-e{n}", user, event_type, **fields)


def served_files(root: Path) -> list[Path]:
    return sorted((root / "raw" / "events").glob(f"day=*/{SERVED_FILE_PREFIX}*.parquet"))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("live")


@pytest.fixture(scope="module")
def store(root: Path):
    """One store for the module (opening Feast costs seconds); each test uses its own players."""
    live = LiveStateStore(settings_for(root))
    yield live
    live.close()


def test_unknown_player_has_an_empty_state(store: LiveStateStore):
    state = store.state("nobody")
    assert state.user_id == "nobody"
    assert state.is_empty
    assert state.played_slots == [] and state.current_slot is None


def test_record_updates_the_state_and_reports_the_threshold_once(store: LiveStateStore):
    crossed = store.record(
        [
            play(1, "u-a", "session_start", minutes_ago=30),
            play(2, "u-a", seconds=300, minutes_ago=25),
        ]
    )
    assert crossed == []
    state = store.state("u-a")
    assert state.played_slots == ["s1"]
    assert state.current_slot == "s1" and state.current_slot_seconds == 300.0
    assert state.updated_at is not None
    crossed = store.record([play(3, "u-a", seconds=300, minutes_ago=20)])
    assert crossed == [ThresholdCrossing("u-a", "s1", 600.0)]
    # the same session never crosses again, a redelivery of the crossing event neither
    assert store.record([play(4, "u-a", seconds=300, minutes_ago=15)]) == []
    assert store.record([play(3, "u-a", seconds=300, minutes_ago=20)]) == []
    assert store.state("u-a").current_slot_seconds == 900.0


def test_a_batch_of_several_players(store: LiveStateStore):
    crossed = store.record(
        [
            play(1, "u-b", "session_start", slot="s7", minutes_ago=20),
            play(1, "u-c", "session_start", slot="s8", minutes_ago=20),
            play(2, "u-c", "session_end", slot="s8", seconds=700, minutes_ago=5),
        ]
    )
    assert crossed == [ThresholdCrossing("u-c", "s8", 700.0)]
    states = store.states(["u-b", "u-c", "u-b"])
    assert set(states) == {"u-b", "u-c"}
    assert states["u-b"].current_slot == "s7"
    assert states["u-c"].current_slot is None  # the session ended
    assert states["u-c"].recent_play_seconds == {"s8": 700.0}


def test_suggestion_and_onboarding_are_kept_apart_from_play_state(store: LiveStateStore):
    store.record([play(1, "u-d", "session_start", slot="s3")])
    store.save_onboarding("u-d", {"themes": ["egypt"], "volatility": ["high"], "providers": []})
    store.keep_suggestion("u-d", {"slot_id": "s5", "reason": "similar to s3"})
    store.keep_suggestion("u-d", {"slot_id": "s6", "reason": "similar to s3"})
    state = store.state("u-d")
    assert state.suggestion == {"slot_id": "s6", "reason": "similar to s3"}
    assert state.onboarding == {"themes": ["egypt"], "volatility": ["high"], "providers": []}
    assert state.played_slots == ["s3"]
    assert store.state("u-e").is_empty  # a stranger stays empty


def test_a_second_store_on_the_same_data_dir_sees_the_state(store: LiveStateStore, root: Path):
    other = LiveStateStore(settings_for(root))
    try:
        other.record([play(1, "u-f", "session_start", slot="s4")])
        assert store.state("u-f").played_slots == ["s4"]
        store.record([play(2, "u-f", seconds=120)])
        assert other.state("u-f").current_slot_seconds == 120.0
    finally:
        other.close()


def test_state_is_in_the_feast_online_store(store: LiveStateStore, root: Path):
    store.record([play(1, "u-g", "session_start", slot="s2")])
    fs = store.feature_store
    row = fs.get_online_features(
        features=[f"{PLAY_VIEW}:play_state_json", f"{PROFILE_VIEW}:onboarding_json"],
        entity_rows=[{schema.USER_ID: "u-g"}],
    ).to_dict()
    [document] = [json.loads(text) for text in row["play_state_json"]]
    assert set(document) == set(PLAY_STATE_KEYS)
    assert document["played_slots"] == ["s2"] and document["current_slot"] == "s2"
    assert (root / "feast" / "online.db").is_file()


def test_fast_push_writes_what_feast_push_writes(store: LiveStateStore):
    fs = store.feature_store
    document = {"played_slots": ["s1", "s2"], "played_at": [1.5e9, 1.4e9], "current_slot": "s1"}
    row = {"play_state_json": json.dumps(document)}
    now = datetime.now(UTC)
    frame = pd.DataFrame([{schema.USER_ID: "via-feast", "live_updated_at": now, **row}])
    fs.push(PLAY_PUSH, frame)
    OnlinePusher(fs).push(PLAY_PUSH, schema.USER_ID, [{schema.USER_ID: "via-fast", **row}], now)
    refs = [f"{PLAY_VIEW}:{name}" for name in row]
    read = fs.get_online_features(
        features=refs, entity_rows=[{schema.USER_ID: "via-feast"}, {schema.USER_ID: "via-fast"}]
    ).to_dict()
    for name, expected in row.items():
        assert read[name] == [expected, expected], name
    # and byte for byte the same rows in Feast's table (values, their text, the event time)
    bulk = SqliteBulk(fs)
    conn = bulk._conn()
    stored = {}
    for user in ("via-feast", "via-fast"):
        [key] = bulk.keys(schema.USER_ID, [user])
        stored[user] = sorted(
            conn.execute(
                f'select feature_name, value, value_text, event_ts from "slotrec_{PLAY_VIEW}" '
                "where entity_key = ?",
                [key],
            ).fetchall()
        )
    assert len(stored["via-fast"]) == len(row)
    assert stored["via-fast"] == stored["via-feast"]


def test_a_registry_with_the_old_ten_feature_play_view_is_migrated(tmp_path: Path):
    """A service upgraded over a registry its predecessor wrote applies the new view and goes on
    (the players' live state starts afresh; their daily snapshot still covers them)."""
    from feast import FeatureView, Field
    from feast.types import Array, String

    from feature_repo import entities
    from feature_repo.live_state import live_views

    settings = settings_for(tmp_path)
    first = LiveStateStore(settings)
    first.close()
    fs = feast_repo.open_store(settings)
    old = FeatureView(
        name=PLAY_VIEW,
        entities=[entities.user],
        schema=[
            Field(name="played_slots", dtype=Array(String)),
            Field(name="current_slot", dtype=String),
        ],
        source=live_views(settings.layout).play_push,
        online=True,
    )
    fs.apply([entities.user, old])
    store = LiveStateStore(settings)
    try:
        view = store.feature_store.get_feature_view(PLAY_VIEW)
        assert [f.name for f in view.features] == ["play_state_json"]
        store.record([play(1, "u-m", "session_start", slot="s4")])
        assert store.state("u-m").played_slots == ["s4"]
    finally:
        store.close()


def test_bulk_reads_of_many_players_come_back_in_their_order(store, monkeypatch):
    monkeypatch.setattr(sqlite_bulk, "MAX_KEYS_PER_SELECT", 2)  # five keys: five statements
    players = [f"u-bulk-{i}" for i in range(4)]
    store.record([play(i, u, "session_start", slot=f"s{i}") for i, u in enumerate(players)])
    got = store.states(["u-bulk-3", "never", "u-bulk-0", "u-bulk-2", "u-bulk-1"])
    assert [got[u].played_slots for u in got] == [["s3"], [], ["s0"], ["s2"], ["s1"]]


def test_fast_read_reads_what_get_online_features_reads(store: LiveStateStore):
    store.record(
        [play(1, "u-r", "session_start", slot="s7"), play(2, "u-r", slot="s7", seconds=45)]
    )
    store.save_onboarding("u-r", {"themes": ["asian"]})
    store.record([play(1, "u-s", "session_start", slot="s8")])  # no profile row
    fs = store.feature_store
    assert uses_fast_path(fs)  # SQLite: the service reads through OnlineReader
    users = ["u-r", "u-s", "never-seen"]
    expected = fs.get_online_features(
        features=READ_REFS, entity_rows=[{schema.USER_ID: u} for u in users]
    ).to_dict()
    got = OnlineReader(fs).read(schema.USER_ID, users, READ_FEATURES)
    assert got == {name: values for name, values in expected.items() if name != schema.USER_ID}
    play_state = json.loads(got["play_state_json"][0])
    assert play_state["played_slots"] == ["s7"] and play_state["current_slot_seconds"] == 45.0
    assert got["onboarding_json"][1] is None
    assert all(values[2] is None for values in got.values())


def test_events_land_in_the_raw_files_in_the_contract(store: LiveStateStore, root: Path):
    before = set(served_files(root))
    events = [
        play(1, "u-h", "session_start", slot="s9", minutes_ago=3),
        play(2, "u-h", seconds=60, slot="s9", minutes_ago=2),
        PlayEvent(
            event_id="u-h-click",
            user_id="u-h",
            slot_id="s10",
            event_type="click",
            occurred_at=datetime.now(UTC),
            request_id="req-1",
        ),
    ]
    store.record(events)
    store.flush()
    new = sorted(set(served_files(root)) - before)
    table = pq.read_table(new).to_pylist() if new else []
    mine = [r for r in table if r["user_id"] == "u-h"]
    assert pq.read_schema(new[0]).remove_metadata() == schema.RAW_EVENT_SCHEMA
    assert [r["event_id"] for r in mine] == ["u-h-e1", "u-h-e2", "u-h-click"]
    assert mine[1]["duration_seconds"] == 60.0 and mine[2]["request_id"] == "req-1"
    assert all(r["occurred_at"] == e.occurred_at for r, e in zip(mine, events, strict=True))
    # no half-written file left behind, and the pipeline's own check accepts the day
    assert not list((root / "raw" / "events").rglob("*.tmp"))
    day = date.fromisoformat(new[0].parent.name.removeprefix("day="))
    [checked] = ingest.check_event_days(Settings(data_dir=root).layout, [day])
    assert set(new) <= set(checked.files)


def test_the_sink_flushes_by_itself(tmp_path: Path):
    live = LiveStateStore(settings_for(tmp_path, raw_sink_flush_seconds=0.2))
    try:
        live.record([play(1, "u-i", "session_start")])
        deadline = time.monotonic() + 10
        while not served_files(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(served_files(tmp_path)) == 1
        assert live.sink.pending == 0
    finally:
        live.close()


def test_online_store_down_at_start_loses_no_event(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "feast").write_text("not a folder")  # the store cannot be opened
    live = LiveStateStore(settings_for(tmp_path))
    try:
        assert not live.healthy()
        with pytest.raises(LiveStateUnavailable):
            live.record([play(1, "u-j", "session_start")])
        with pytest.raises(LiveStateUnavailable):
            live.state("u-j")
        started = time.perf_counter()
        with pytest.raises(LiveStateUnavailable, match="next attempt soon"):
            live.state("u-j")
        assert time.perf_counter() - started < 0.1  # no new attempt to open on every call
        # flushed at once, not left in memory while the state path fails
        [path] = served_files(tmp_path)
        assert pq.read_table(path).column("event_id").to_pylist() == ["u-j-e1"]
        # the store comes back: the next attempt after the pause opens it
        (tmp_path / "feast").unlink()
        monkeypatch.setattr(live, "_retry_open_at", 0.0)
        live.record([play(2, "u-j", seconds=30)])
        assert live.healthy()
        assert live.state("u-j").played_slots == ["s1"]
    finally:
        live.close()


def test_online_store_failing_later_raises_and_keeps_the_events(tmp_path: Path):
    live = LiveStateStore(settings_for(tmp_path))
    try:
        live.record([play(1, "u-k", "session_start")])
        assert live.healthy()
        with sqlite3.connect(tmp_path / "feast" / "online.db") as con:
            con.execute(f"drop table slotrec_{PLAY_VIEW}")
        with pytest.raises(LiveStateUnavailable, match="online store failed"):
            live.record([play(2, "u-k", seconds=30)])
        assert not live.healthy()
        ids = pq.read_table(served_files(tmp_path)).column("event_id").to_pylist()
        assert sorted(ids) == ["u-k-e1", "u-k-e2"]
    finally:
        live.close()


def test_threads_updating_one_player_lose_nothing(store: LiveStateStore):
    store.record([play(0, "u-t", "session_start", minutes_ago=1)])
    per_thread = 25

    def beat(name: str) -> int:
        crossed = 0
        for i in range(per_thread):
            event = PlayEvent(
                event_id=f"u-t-{name}-{i}",
                user_id="u-t",
                slot_id="s1",
                session_id="a",
                event_type="heartbeat",
                occurred_at=datetime.now(UTC),
                duration_seconds=10.0,
            )
            crossed += len(store.record([event]))
        return crossed

    with ThreadPoolExecutor(max_workers=4) as pool:
        crossings = list(pool.map(beat, ["t1", "t2", "t3", "t4"]))
    assert store.state("u-t").current_slot_seconds == 4 * per_thread * 10.0
    assert sum(crossings) == 1  # 1000 s played, 600 s threshold: crossed once


def test_clicks_and_impressions_go_to_the_raw_files_only(store: LiveStateStore, root: Path):
    click = PlayEvent(
        event_id="u-l-click",
        user_id="u-l",
        slot_id="s2",
        event_type="click",
        occurred_at=datetime.now(UTC),
    )
    assert store.record([click]) == []
    assert store.state("u-l").is_empty
    store.flush()
    ids = pq.read_table(served_files(root)).column("event_id").to_pylist()
    assert "u-l-click" in ids


WORKER = textwrap.dedent(
    """
    import json, sys, time
    from datetime import UTC, datetime
    from pathlib import Path
    from bentos.realtime import LiveStateStore, PlayEvent
    from slotrec.core.settings import Settings

    root, name = Path(sys.argv[1]), sys.argv[2]
    count, threshold = int(sys.argv[3]), float(sys.argv[4])
    live = LiveStateStore(Settings(data_dir=root, play_threshold_seconds=threshold))
    (root / f"ready-{name}").touch()
    while not (root / "go").exists():
        time.sleep(0.01)
    crossings = 0
    started = time.time()
    for i in range(count):
        event = PlayEvent(
            event_id=f"{name}-{i}", user_id="shared", slot_id="s1", session_id="a",
            event_type="heartbeat", occurred_at=datetime.now(UTC), duration_seconds=10.0,
        )
        crossings += len(live.record([event]))
    ended = time.time()
    live.close()
    print(json.dumps({"crossings": crossings, "started": started, "ended": ended}))
    """
)


@pytest.mark.slow
def test_two_worker_processes_updating_one_player_lose_nothing(tmp_path: Path):
    count = 60
    first = LiveStateStore(settings_for(tmp_path))
    first.record([play(0, "shared", "session_start", minutes_ago=1)])
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path), name, str(count), "500"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("w1", "w2")
    ]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready-{n}").exists() for n in ("w1", "w2")):
        assert time.monotonic() < deadline, "workers did not start"
        assert all(w.poll() is None for w in workers), "a worker died"
        time.sleep(0.05)
    (tmp_path / "go").touch()
    results = [json.loads(w.communicate(timeout=120)[0]) for w in workers]
    assert all(w.returncode == 0 for w in workers)
    # the two workers really ran at the same time
    assert max(r["started"] for r in results) < min(r["ended"] for r in results)
    state = first.state("shared")
    # 2 x 60 heartbeats of 10 s: every one counted exactly once, however they interleaved
    assert state.current_slot_seconds == 2 * count * 10.0
    assert sum(r["crossings"] for r in results) == 1  # 500 s crossed once, by one worker
    first.close()
