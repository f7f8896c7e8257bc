"""The Redis online store: settings, the live state and its locks, materialization, two services.

Every test runs against a real `redis-server` (Debian's package; `make test` installs it) started
on a free port in a temporary folder. Two data directories sharing one Redis stand for two hosts:
they share no file, only the Redis.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd
import pydantic
import pytest

from bentos.realtime import LiveStateStore, LiveStateUnavailable, ThresholdCrossing
from bentos.realtime.locks import LockUnavailable, RedisUserLocks
from bentos.realtime.raw_sink import SERVED_FILE_PREFIX
from feature_repo import store as feature_store
from slotrec.core.redis_url import parse_redis_url
from slotrec.core.settings import REPO_ROOT, Settings
from slotrec.redis_server import start_redis_server, wait_until_answering
from slotrec.service_process import free_port
from tests.live_events import play_event
from tests.service_world import build_world, play_events, serving_env, serving_settings
from tests.test_feast_point_in_time import DAY2, _risk_snapshot, _slot_snapshot, _user_snapshot

THRESHOLD = 600.0


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free loopback port, for this module."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (`make test` installs Debian's redis-server)")
    port = free_port()
    process = start_redis_server(port, tmp_path_factory.mktemp("redis"))
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture()
def redis_client(redis_url: str):
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()  # each test starts from an empty online store
    yield client
    client.close()


def redis_settings(root: Path, url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": root,
        "online_store": "redis",
        "redis_url": url,
        "play_threshold_seconds": THRESHOLD,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


# --- settings -----------------------------------------------------------------------------------


def test_a_redis_url_becomes_feasts_connection_string():
    address = parse_redis_url("redis://:p%40ss@10.0.0.5:6380/2")
    assert (address.host, address.port, address.db, address.password) == (
        "10.0.0.5",
        6380,
        2,
        "p@ss",
    )
    assert address.feast_connection_string() == (
        "10.0.0.5:6380,db=2,password=p@ss,socket_connect_timeout=2,socket_timeout=5"
    )
    tls = parse_redis_url("rediss://cache.internal")
    assert (tls.port, tls.db, tls.ssl) == (6379, 0, True)
    assert tls.feast_connection_string().startswith("cache.internal:6379,db=0,ssl=true,")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:6379/0", "must start with redis://"),
        ("redis://:6379/0", "has no host"),
        ("redis://127.0.0.1:6379/zero", "database must be a number"),
        ("redis://127.0.0.1:99999/0", "bad port"),
        ("redis://:a,b@127.0.0.1/0", "',' or '='"),
    ],
)
def test_a_bad_redis_url_is_refused_naming_the_setting(url: str, problem: str):
    with pytest.raises(pydantic.ValidationError) as error:
        Settings(redis_url=url)
    assert "SLOTREC_REDIS_URL" in str(error.value) and problem in str(error.value)


def test_the_online_store_setting_selects_feasts_online_store(tmp_path: Path, monkeypatch):
    with pytest.raises(pydantic.ValidationError, match="online_store"):
        Settings(data_dir=tmp_path, online_store="mongodb")  # type: ignore[arg-type]
    default = feature_store.repo_config(Settings(data_dir=tmp_path))
    assert default.online_store.type == "sqlite"
    assert default.online_store.path == str(tmp_path / "feast" / "online.db")
    monkeypatch.setenv("SLOTREC_ONLINE_STORE", "redis")
    monkeypatch.setenv("SLOTREC_REDIS_URL", "redis://10.1.2.3:6390/4")
    config = feature_store.repo_config(Settings(data_dir=tmp_path))
    assert config.online_store.type == "redis"
    assert config.online_store.connection_string.startswith("10.1.2.3:6390,db=4,")
    assert config.online_store.skip_dedup is True


# --- the live state on Redis --------------------------------------------------------------------


def test_live_state_on_redis_records_plays_and_the_threshold(redis_client, redis_url, tmp_path):
    live = LiveStateStore(redis_settings(tmp_path, redis_url))
    try:
        assert live.healthy()
        assert live.state("r-a").is_empty
        assert live.record([play_event("r-a-1", "r-a", "session_start", minutes_ago=30)]) == []
        crossed = live.record(
            [
                play_event("r-a-2", "r-a", seconds=300, minutes_ago=25),
                play_event("r-a-3", "r-a", seconds=300, minutes_ago=20),
            ]
        )
        assert crossed == [ThresholdCrossing("r-a", "s1", 600.0)]
        # the same session never crosses again, a redelivered event changes nothing
        assert live.record([play_event("r-a-3", "r-a", seconds=300, minutes_ago=20)]) == []
        assert live.record([play_event("r-a-4", "r-a", seconds=60, minutes_ago=10)]) == []
        state = live.state("r-a")
        assert state.played_slots == ["s1"] and state.current_slot == "s1"
        assert state.current_slot_seconds == 660.0
        live.keep_suggestion("r-a", {"slot_id": "s9", "reason": "after s1"})
        assert live.state("r-a").suggestion == {"slot_id": "s9", "reason": "after s1"}
        assert live.state("r-a").played_slots == ["s1"]  # a profile write keeps the plays
        live.flush()
    finally:
        live.close()
    # the state is in Redis (one hash per player), not in a SQLite file; no lock left behind
    assert not (tmp_path / "feast" / "online.db").exists()
    keys = redis_client.keys("*")
    assert len(keys) == 1 and not any(k.startswith(b"slotrec:live-lock:") for k in keys)
    # the raw files got every event, the redelivered one too (dbt dedupes it)
    served = list((tmp_path / "raw" / "events").glob(f"day=*/{SERVED_FILE_PREFIX}*.parquet"))
    assert sum(len(pd.read_parquet(p)) for p in served) == 5


def test_two_hosts_share_the_live_state_through_redis(redis_client, redis_url, tmp_path):
    # two data dirs: no shared registry, lock file or SQLite file, only the Redis
    one = LiveStateStore(redis_settings(tmp_path / "host-1", redis_url))
    two = LiveStateStore(redis_settings(tmp_path / "host-2", redis_url))
    try:
        one.record([play_event("r-b-1", "r-b", "session_start", slot="s4")])
        assert two.state("r-b").played_slots == ["s4"]
        two.record([play_event("r-b-2", "r-b", slot="s4", seconds=120)])
        assert one.state("r-b").current_slot_seconds == 120.0
        two.save_onboarding("r-b", {"themes": ["egypt"]})
        assert one.state("r-b").onboarding == {"themes": ["egypt"]}
    finally:
        one.close()
        two.close()


def test_redis_locks_serialise_one_players_updates_across_hosts(redis_client, redis_url, tmp_path):
    """Two hosts (own data dirs, so no common file lock) race on one player: nothing is lost."""
    hosts = [LiveStateStore(redis_settings(tmp_path / f"host-{i}", redis_url)) for i in (1, 2)]
    try:
        hosts[0].record([play_event("r-c-0", "r-c", "session_start", slot="s2", minutes_ago=1)])
        per_host = 25

        def beat(host: int) -> None:
            for n in range(per_host):
                hosts[host].record([play_event(f"r-c-{host}-{n}", "r-c", slot="s2", seconds=1.0)])

        with ThreadPoolExecutor(2) as pool:
            list(pool.map(beat, [0, 1]))
        state = hosts[1].state("r-c")
        assert state.current_slot_seconds == 2 * per_host * 1.0
        assert len(state.recent_event_keys) >= 2 * per_host
    finally:
        for host in hosts:
            host.close()


def test_a_redis_player_lock_waits_then_gives_up_and_expires(redis_client):
    first = RedisUserLocks(redis_client, expiry_seconds=0.5, wait_seconds=0.1)
    second = RedisUserLocks(redis_client, expiry_seconds=0.5, wait_seconds=0.1)
    with first.hold(["p1", "p2"]):
        assert redis_client.exists("slotrec:live-lock:p1", "slotrec:live-lock:p2") == 2
        with pytest.raises(LockUnavailable, match="'p2' still taken"), second.hold(["p3", "p2"]):
            pass
        assert not redis_client.exists("slotrec:live-lock:p3")  # released on the way out
        time.sleep(0.6)  # the holder stalled past the expiry: the lock is free again
        with second.hold(["p1"]):
            pass
    assert redis_client.keys("slotrec:live-lock:*") == []


def test_an_unreachable_redis_makes_the_live_state_unavailable_not_the_events(tmp_path):
    live = LiveStateStore(redis_settings(tmp_path, f"redis://127.0.0.1:{free_port()}/0"))
    try:
        started = time.monotonic()
        assert not live.healthy()
        with pytest.raises(LiveStateUnavailable):
            live.state("r-d")
        with pytest.raises(LiveStateUnavailable, match="redis lock failed"):
            live.record([play_event("r-d-1", "r-d", "session_start")])
        # no retry backoff (redis-py's default waits seconds): the service answers degraded now
        assert time.monotonic() - started < 1.0
    finally:
        live.close()
    served = list((tmp_path / "raw" / "events").glob(f"day=*/{SERVED_FILE_PREFIX}*.parquet"))
    assert sum(len(pd.read_parquet(p)) for p in served) == 1


def test_the_daily_materialization_writes_the_snapshots_to_redis(
    redis_client, redis_url, tmp_path, monkeypatch
):
    monkeypatch.setenv("SLOTREC_DATA_DIR", str(tmp_path))
    settings = redis_settings(tmp_path, redis_url)
    export = settings.layout.feature_export_dir
    export.mkdir(parents=True)
    frames = {
        "user_features": [_user_snapshot("r-e", DAY2, 900.0, "regular")],
        "slot_features": [_slot_snapshot("s1", DAY2, 7)],
        "player_risk": [_risk_snapshot("r-e", DAY2, "high"), _risk_snapshot("r-f", DAY2, "none")],
    }
    for name, rows in frames.items():
        frame = pd.DataFrame(rows)
        frame["feature_timestamp"] = frame["feature_timestamp"].astype("datetime64[us, UTC]")
        frame.to_parquet(export / f"{name}.parquet")
    fs = feature_store.open_store(settings)
    feature_store.apply_definitions(fs, settings)
    # what the daily run's features step calls
    result = feature_store.materialize(fs, settings, DAY2)
    assert result.rows_by_view == {"user_features": 1, "slot_features": 1, "player_risk": 2}
    assert not (tmp_path / "feast" / "online.db").exists()
    assert redis_client.dbsize() == 3  # one hash per entity: r-e, r-f, s1
    online = feature_store.online_features(fs, "user_profile_v1", [{"user_id": "r-e"}])
    assert online["play_seconds_30d"] == [900.0] and online["segment"] == ["regular"]
    live = LiveStateStore(settings, feature_store=fs)
    try:
        assert live.state("r-e").risk_level == "high"
        # the live state and the snapshots share the player's hash without overwriting each other
        live.record([play_event("r-e-1", "r-e", "session_start", slot="s3")])
        after = live.state("r-e")
        assert after.risk_level == "high" and after.played_slots == ["s3"]
        assert feature_store.online_features(fs, "user_profile_v1", [{"user_id": "r-e"}]) == online
        assert live.state("r-f").risk_level == "none"
        assert live.state("r-g").risk_level is None  # never materialized: no guardrail level
    finally:
        live.close()


def test_the_live_state_survives_a_redis_restart_with_the_operators_persistence(tmp_path):
    port = free_port()
    server = start_redis_server(port, tmp_path / "redis", persist=True)
    live = LiveStateStore(redis_settings(tmp_path / "host", f"redis://127.0.0.1:{port}/0"))
    try:
        live.record([play_event("r-h-1", "r-h", "session_start", slot="s5")])
        server.terminate()  # SIGTERM: redis-server finishes its append-only file and exits
        server.wait(timeout=10)
        assert not live.healthy()
        with pytest.raises(LiveStateUnavailable):
            live.state("r-h")
        server = start_redis_server(port, tmp_path / "redis", persist=True)
        # the same store reconnects by itself, and the state is back from the append-only file
        assert live.healthy()
        assert live.state("r-h").played_slots == ["s5"]
    finally:
        live.close()
        server.terminate()
        server.wait(timeout=10)


def test_slotrec_redis_start_runs_a_server_in_the_data_dir(tmp_path):
    port = free_port()
    slotrec = Path(sys.executable).parent / "slotrec"
    process = subprocess.Popen(
        [slotrec, "redis", "start", "--data-dir", str(tmp_path), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_answering("127.0.0.1", port)
        import redis

        with redis.Redis(port=port) as client:
            assert client.config_get("dir")["dir"] == str((tmp_path / "redis").resolve())
            assert client.config_get("appendonly")["appendonly"] == "yes"
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
    # without redis-server on the PATH: a message that says how to install it, exit 1
    missing = subprocess.run(
        [slotrec, "redis", "start", "--data-dir", str(tmp_path)],
        env={**os.environ, "PATH": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1
    assert "apt-get install -y redis-server" in missing.stderr


# --- two `bentoml serve` processes on one Redis -------------------------------------------------


def _serve(settings: Settings, url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **serving_env(settings),
        "SLOTREC_ONLINE_STORE": "redis",
        "SLOTREC_REDIS_URL": url,
        "SLOTREC_SERVE_WORKERS": "1",
        "BENTOML_DO_NOT_TRACK": "true",
    }
    log = (settings.data_dir / "serve.log").open("w")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "bentoml", "serve", "bentos.service:SlotrecService",
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    finally:
        log.close()


@pytest.fixture(scope="module")
def two_services(redis_url: str, tmp_path_factory) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Services A and B: own data dirs (own raw files, registry), one Redis."""
    build_world()  # trains the bundle once, into the world's own model store
    started: list[tuple[subprocess.Popen[bytes], httpx.Client, Path]] = []
    try:
        for name in ("a", "b"):
            settings = serving_settings(tmp_path_factory.mktemp(f"redis-host-{name}"))
            port = free_port()
            client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
            started.append((_serve(settings, redis_url, port), client, settings.data_dir))
        deadline = time.monotonic() + 180
        for process, client, data_dir in started:
            while True:
                if process.poll() is not None:
                    raise RuntimeError((data_dir / "serve.log").read_text()[-3000:])
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError("bentoml serve did not become ready in 180 s")
                time.sleep(0.5)
        yield started[0][1], started[1][1]
    finally:
        for process, client, _ in started:
            client.close()
            process.terminate()
        for process, _, _ in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _slots(body: dict) -> list[str]:
    return [item["slot_id"] for item in body["items"]]


@pytest.mark.slow
def test_an_event_sent_to_one_service_is_seen_by_the_other(two_services):
    a, b = two_services
    before = b.post("/recommend", json={"user_id": "u0011", "k": 3}).json()
    assert not before["fallback"] and len(before["items"]) == 3
    top = before["items"][0]["slot_id"]
    sent = a.post("/events", json={"events": play_events("u0011", top, 15.0, "ses-redis-1")})
    assert sent.status_code == 200 and sent.json()["accepted"] == 2
    after = b.post("/recommend", json={"user_id": "u0011", "k": 3}).json()
    assert top not in _slots(after) and not after["fallback"]


@pytest.mark.slow
def test_a_suggestion_kept_by_one_service_is_served_by_the_other(two_services):
    a, b = two_services
    assert b.post("/recommend", json={"user_id": "u0023", "k": 3}).json()["suggestion"] is None
    slot = a.post("/recommend", json={"user_id": "u0023", "k": 3}).json()["items"][0]["slot_id"]
    long = play_events("u0023", slot, 125.0, "ses-redis-2")  # past the 120 s threshold
    crossed = a.post("/events", json={"events": long}).json()
    assert len(crossed["suggestions"]) == 1
    suggested = _slots(crossed["suggestions"][0])
    kept = b.post("/recommend", json={"user_id": "u0023", "k": 3}).json()["suggestion"]
    assert kept is not None and kept["after_slot_id"] == slot and _slots(kept) == suggested
