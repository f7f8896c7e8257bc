"""Play events accepted while the online store is down reach it once it answers again.

A real Feast SQLite online store in a tmp folder; the outage is the live-state table renamed
away behind the store's back (its open connection then fails every read and write), as the
soak benchmark does to a running service.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from prometheus_client import REGISTRY

from bentos.realtime import LiveStateStore, LiveStateUnavailable, PlayEvent
from bentos.realtime import store as store_module
from bentos.realtime.raw_sink import SERVED_FILE_PREFIX
from bentos.realtime.store import PLAY_VIEW
from slotrec.core.settings import Settings
from tests.live_events import play_event


def play(n: int, user: str, slot: str, event_type: str = "session_start") -> PlayEvent:
    return play_event(f"{user}-e{n}", user, event_type, slot=slot, session=f"ses-{n}")


def replayed(outcome: str = "replayed") -> float:
    value = REGISTRY.get_sample_value("slotrec_events_replayed_total", {"outcome": outcome})
    return value or 0.0


@contextmanager
def store_down(root: Path) -> Iterator[None]:
    """The live-state table is gone while inside; back, with its rows, on the way out."""
    table = f"slotrec_{PLAY_VIEW}"
    with sqlite3.connect(root / "feast" / "online.db") as con:
        con.execute(f"alter table {table} rename to {table}_away")
    try:
        yield
    finally:
        with sqlite3.connect(root / "feast" / "online.db") as con:
            con.execute(f"alter table {table}_away rename to {table}")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("replay")


@pytest.fixture(scope="module")
def live(root: Path) -> Iterator[LiveStateStore]:
    """One store for the module (opening Feast costs seconds); each test uses its own players."""
    store = LiveStateStore(Settings(data_dir=root))
    yield store
    store.close()


def test_the_readiness_probe_replays_events_missed_during_an_outage(
    live: LiveStateStore, root: Path
):
    live.record([play(1, "u-a", "s1")])
    before = replayed()
    with store_down(root):
        with pytest.raises(LiveStateUnavailable):
            live.record([play(2, "u-a", "s2")])
        assert live.missed == 1
        assert not live.healthy()  # still down: the event stays kept
        assert live.missed == 1
    assert live.healthy()  # answers again: replays
    assert live.missed == 0
    assert sorted(live.state("u-a").played_slots) == ["s1", "s2"]
    assert replayed() - before == 1
    # the event was in the raw files from the start, and is not written there twice
    live.flush()
    files = sorted((root / "raw" / "events").glob(f"day=*/{SERVED_FILE_PREFIX}*.parquet"))
    ids = pq.read_table(files).column("event_id").to_pylist()
    assert ids.count("u-a-e2") == 1


def test_the_next_record_replays_the_missed_events_first(live: LiveStateStore, root: Path):
    before = replayed()
    with store_down(root):
        for n, slot in ((1, "s1"), (2, "s2")):
            with pytest.raises(LiveStateUnavailable):
                live.record([play(n, "u-b", slot)])
        with pytest.raises(LiveStateUnavailable):
            live.state("u-b")
    assert live.missed == 2
    live.record([play(3, "u-c", "s3")])  # another player's event, once the store is back
    assert live.missed == 0
    assert sorted(live.state("u-b").played_slots) == ["s1", "s2"]
    assert live.state("u-c").played_slots == ["s3"]
    assert replayed() - before == 2
    # a second replay of the same ids changes nothing (the state remembers them)
    live.record([play(1, "u-b", "s1")])
    assert sorted(live.state("u-b").played_slots) == ["s1", "s2"]


def test_the_replay_queue_is_bounded_and_keeps_the_newest(
    live: LiveStateStore, root: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(store_module, "MAX_REPLAY_EVENTS", 2)
    dropped_before = replayed("dropped")
    with store_down(root):
        for n, slot in ((1, "s1"), (2, "s2"), (3, "s3")):
            with pytest.raises(LiveStateUnavailable):
                live.record([play(n, "u-d", slot)])
        assert live.missed == 2
    assert replayed("dropped") - dropped_before == 1
    assert live.replay_missed() == []
    assert sorted(live.state("u-d").played_slots) == ["s2", "s3"]  # the oldest was dropped
