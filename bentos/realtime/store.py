"""The live state of every player, kept in the Feast online store and shared by all workers.

`LiveStateStore.record` is the `events` endpoint's whole job: append the events to the raw files,
apply them to each player's state (`state.apply_events`), write the new states back through the
push sources of `feature_repo/live_state.py`, and report who crossed the play-time threshold.
Reads go through the online store (`read.OnlineReader`; Feast's `get_online_features` for
Redis), so a state written by one worker is seen by every other one on its next read (freshness
is one SQLite commit; with `SLOTREC_ONLINE_STORE=redis`, one Redis write, and the other workers
may be on other hosts).

Guarantees:

- Concurrency: updates of one player are serialised (a lock around read, change, write), so no
  event is lost or counted twice by two workers racing on the same player, and a crossing is
  reported by exactly one of them. SQLite online store: `locks.StripedUserLocks`, every thread
  and process on one host. Redis online store (`SLOTREC_ONLINE_STORE=redis`): a Redis lock per
  player (`locks.RedisUserLocks`), every process on every host sharing that Redis. Reads take
  no player lock; they see the state before or after an update, never half of one (each update
  is one SQLite transaction, or one Redis HSET of the player's hash).
- Durability: events reach the raw files whatever happens to the online store. If the store
  cannot be read or written, `record` flushes the raw buffer at once and raises
  `LiveStateUnavailable`; the service answers from what it has (degraded, still valid).
- Replay: play events whose live-state update failed (the store was down) are kept in memory,
  at most `MAX_REPLAY_EVENTS` (the oldest dropped beyond, counted; they are in the raw files
  all the same), and applied before the next `record` and at the next `healthy` that find the
  store answering again (`slotrec_events_replayed_total`). Crossings caused by replayed events
  are reported by the `record` that replays them; a replay from `healthy` only logs them.
- Redelivery: an event id applied in the last `REMEMBERED_EVENTS` events of a player changes
  nothing the second time (it is still appended to the raw files, where dbt dedupes it).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from feast import FeatureStore
from feast.infra.online_stores.sqlite import SqliteOnlineStore

from bentos import metrics
from bentos.realtime.events import PlayEvent
from bentos.realtime.locks import RedisUserLocks, StripedUserLocks, UserLocks
from bentos.realtime.push import OnlinePusher
from bentos.realtime.raw_sink import RawEventSink
from bentos.realtime.read import OnlineReader, uses_fast_path
from bentos.realtime.state import LiveRules, ThresholdCrossing, UserLiveState, apply_events
from feature_repo import store as feast_repo
from feature_repo.feature_services import LIVE_STATE
from feature_repo.live_state import PLAY_VIEW, PROFILE_VIEW
from feature_repo.repo import FeatureRepo, feature_repo, view_features
from slotrec.core import schema
from slotrec.core.settings import DataLayout, Settings

log = logging.getLogger(__name__)

# What a state read asks for, feature view -> names: the projections of the `live_state_v1`
# feature service (the live play state, the kept suggestion and onboarding answers, the daily
# risk level), derived from its definition, never listed here. The names do not depend on the
# data directory; only the sources' paths do.
READ_FEATURES = view_features(feature_repo(DataLayout(Path("."))).services.live_state)
RISK_VIEW = "player_risk"  # the daily risk snapshot (dbt player_risk), read with the live state
PLAY_FEATURES = READ_FEATURES[PLAY_VIEW]
PLAY_PUSH = f"{PLAY_VIEW}_push"
PROFILE_PUSH = f"{PROFILE_VIEW}_push"
# The keys of a play state document (`feature_repo/live_state.py`): slots most recent first,
# with when each was last played (epoch s) and the seconds played on it; the session being
# played ("" once ended); the session whose threshold crossing was reported; digests of the
# events last applied (`state.event_key`); when it was written.
PLAY_STATE_KEYS = (
    "played_slots",
    "played_at",
    "played_seconds",
    "current_slot",
    "current_session_id",
    "current_started_at",
    "current_slot_seconds",
    "crossed_session_id",
    "recent_event_keys",
    "updated_at",
)
READ_REFS = [f"{view}:{name}" for view, names in READ_FEATURES.items() for name in names]
# What applying events needs: the play state alone (they change nothing else).
PLAY_ONLY: dict[str, tuple[str, ...]] = {PLAY_VIEW: PLAY_FEATURES}
# After a failed attempt to open the online store, calls fail fast for this long.
OPEN_RETRY_SECONDS = 5.0
# Play events kept for replay while the online store is down (about 3 MB at most).
MAX_REPLAY_EVENTS = 10_000


class LiveStateUnavailable(RuntimeError):
    """The online store could not be read or written.

    Events passed to `record` were still queued for (and flushed to) the raw files; only the
    live state is behind. The service should answer without it, marked as degraded.
    """


class LiveStateStore:
    """Players' live state in the Feast online store, plus the raw-file sink for their events.

    One instance per process: it holds one `FeatureStore` (registry cached, one SQLite
    connection) and the raw sink's background thread. It is safe to use from many threads.
    """

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], datetime] | None = None,
        feature_store: FeatureStore | None = None,
    ) -> None:
        """Open the online store at the settings' data directory.

        The live-state definitions are applied to the registry if missing (so a service can start
        before the first daily run). If the store cannot be opened, the instance still accepts
        events into the raw files; every state call raises `LiveStateUnavailable` until a later
        call manages to open it.

        Args:
            settings: Data directory, threshold, window, flush interval.
            clock: The current UTC time; tests pass a fixed one.
            feature_store: The process's `FeatureStore`, if the caller already opened one for
                the same data dir. Share one: Feast caches its feature resolution in a module
                global keyed by the registry's load time, so two stores in one process evict
                each other's entry on every read (~20 ms a read instead of ~1 ms).
        """
        self.settings = settings
        self.rules = LiveRules(
            threshold_seconds=settings.play_threshold_seconds,
            window=settings.live_state_window,
            max_age=timedelta(hours=settings.live_state_max_age_hours),
        )
        self._clock = clock or (lambda: datetime.now(UTC))
        self.sink = RawEventSink(settings.layout, settings.raw_sink_flush_seconds, self._clock)
        self._locks = _player_locks(settings)
        # Its own file: opening the store lazily can happen while player locks are held.
        self._registry_lock = StripedUserLocks(settings.layout.feast_dir / "live_registry.lock")
        # Feast's SQLite store shares one connection between threads: a write transaction of one
        # thread would be visible to, or committed by, another. One Feast call at a time.
        self._feast_lock = threading.RLock()
        self._store: FeatureStore | None = None
        self._pusher: OnlinePusher | None = None
        self._reader: OnlineReader | None = None  # None: read with get_online_features
        self._given_store = feature_store
        self._retry_open_at = 0.0  # time.monotonic() before which a failed open is not retried
        self._missed: list[PlayEvent] = []  # play events to replay, oldest first
        self._missed_lock = threading.Lock()
        try:
            self._open()
        except Exception as exc:
            log.warning("live state unavailable at start: %s", exc)

    # --- public interface ------------------------------------------------------------------

    def record(self, events: list[PlayEvent]) -> list[ThresholdCrossing]:
        """Apply events to each player's live state and append them to the raw event files.

        Args:
            events: Validated events, any players, any order.

        Returns:
            The threshold crossings these events caused, at most one per player+slot+session
            ever (a redelivered event does not cross again).

        Raises:
            LiveStateUnavailable: the online store failed; the events are in the raw files.
        """
        if not events:
            return []
        self.sink.add([event.raw_row() for event in events])
        # Clicks and impressions only go to the raw files: no lock, no read, no write.
        plays = [event for event in events if event.is_play]
        if not plays:
            return []
        return self._apply_or_keep(plays)

    def replay_missed(self) -> list[ThresholdCrossing]:
        """Apply the play events kept while the online store was down (see the module doc).

        Returns:
            The threshold crossings the replayed events caused.

        Raises:
            LiveStateUnavailable: the store is still down; the events stay kept.
        """
        return self._apply_or_keep([])

    @property
    def missed(self) -> int:
        """How many play events wait for a replay into the online store."""
        with self._missed_lock:
            return len(self._missed)

    def _apply_or_keep(self, plays: list[PlayEvent]) -> list[ThresholdCrossing]:
        """Apply the kept events, then `plays`; on failure keep them all for a later replay."""
        with self._missed_lock:
            replaying, self._missed = self._missed, []
        by_user: dict[str, list[PlayEvent]] = {}
        for event in replaying + plays:
            by_user.setdefault(event.user_id, []).append(event)
        if not by_user:
            return []
        try:
            crossings = self._apply(by_user)
        except LiveStateUnavailable:
            self._keep_missed(replaying + plays)
            try:
                self.sink.flush()
            except OSError:
                log.exception("raw sink flush failed too; the events stay queued")
            raise
        if replaying:
            log.info("replayed %d play events into the online store", len(replaying))
            metrics.EVENTS_REPLAYED.labels(outcome="replayed").inc(len(replaying))
        return crossings

    def _keep_missed(self, events: list[PlayEvent]) -> None:
        """Keep events for a replay, in front of any kept since; drop the oldest beyond the cap."""
        with self._missed_lock:
            kept = events + self._missed
            dropped = max(0, len(kept) - MAX_REPLAY_EVENTS)
            self._missed = kept[dropped:]
        if dropped:
            log.warning("replay queue full: %d play events left to the raw files only", dropped)
            metrics.EVENTS_REPLAYED.labels(outcome="dropped").inc(dropped)

    def state(self, user_id: str) -> UserLiveState:
        """One player's live state (an empty state for a player never seen).

        Raises:
            LiveStateUnavailable: the online store failed.
        """
        return self.states([user_id])[user_id]

    def states(self, user_ids: list[str]) -> dict[str, UserLiveState]:
        """The live states of several players, read in one round trip.

        Raises:
            LiveStateUnavailable: the online store failed.
        """
        unique = list(dict.fromkeys(user_ids))
        if not unique:
            return {}
        return self._read(unique)

    def keep_suggestion(self, user_id: str, suggestion: dict) -> None:
        """Keep a next-slot suggestion so the lobby can fetch it later (replaces the last one).

        Raises:
            LiveStateUnavailable: the online store failed.
            TypeError: the suggestion is not JSON-able.
        """
        self._update_profile(user_id, suggestion_json=json.dumps(suggestion, default=str))

    def save_onboarding(self, user_id: str, answers: dict) -> None:
        """Store a player's onboarding answers (replacing earlier ones).

        Raises:
            LiveStateUnavailable: the online store failed.
        """
        self._update_profile(user_id, onboarding_json=json.dumps(answers, default=str))

    def healthy(self) -> bool:
        """Whether the online store answers a read now (for `/readyz`)."""
        try:
            self._read(["__slotrec_readiness_probe__"])
        except LiveStateUnavailable:
            return False
        if self.missed:
            try:
                crossings = self.replay_missed()
            except LiveStateUnavailable:
                return False
            if crossings:
                log.info("replayed events crossed the threshold for %d players", len(crossings))
        return True

    @property
    def feature_store(self) -> FeatureStore:
        """The process's one `FeatureStore` (use it for snapshot features too; see `__init__`).

        Raises:
            LiveStateUnavailable: the store cannot be opened.
        """
        return self._feast(lambda fs: fs)

    def flush(self) -> None:
        """Write every queued event to the raw files now."""
        self.sink.flush()

    def close(self) -> None:
        """Flush the raw sink and stop its thread."""
        self.sink.close()

    # --- the online store ------------------------------------------------------------------

    def _open(self) -> FeatureStore:
        with self._feast_lock:
            if self._store is not None:
                return self._store
            # Opening costs about a second: while the store is down, requests fail fast
            # instead of each paying for another attempt.
            if time.monotonic() < self._retry_open_at:
                raise LiveStateUnavailable("online store unavailable (next attempt soon)")
            try:
                store = self._given_store or feast_repo.open_store(self.settings)
                with self._registry_lock.hold(["registry"]):
                    _ensure_definitions(store, feature_repo(self.settings.layout))
                _tune_sqlite(store)
                _tune_redis(store)
            except Exception:
                self._retry_open_at = time.monotonic() + OPEN_RETRY_SECONDS
                raise
            self._pusher = OnlinePusher(store)
            self._reader = OnlineReader(store) if uses_fast_path(store) else None
            self._store = store
            return store

    def _feast(self, action: Callable[[FeatureStore], Any]) -> Any:
        """Run one Feast call; any failure becomes `LiveStateUnavailable`."""
        with self._feast_lock:
            try:
                return action(self._open())
            except LiveStateUnavailable:
                raise
            except Exception as exc:
                raise LiveStateUnavailable(f"online store failed: {exc}") from exc

    @contextmanager
    def _hold_players(self, user_ids: Iterable[str]) -> Iterator[None]:
        """Hold the players' locks; a lock file that cannot be used means the store is down."""
        try:
            held = self._locks.hold(user_ids)
            held.__enter__()
        except OSError as exc:
            raise LiveStateUnavailable(f"live-state lock unavailable: {exc}") from exc
        try:
            yield
        finally:
            held.__exit__(None, None, None)

    def _read(
        self, user_ids: list[str], views: dict[str, tuple[str, ...]] = READ_FEATURES
    ) -> dict[str, UserLiveState]:
        """The players' states from the given views (features of other views read as unset)."""
        columns = self._feast(lambda fs: self._read_columns(fs, user_ids, views))
        return {
            user_id: _decode(user_id, {name: values[i] for name, values in columns.items()})
            for i, user_id in enumerate(user_ids)
        }

    def _read_columns(
        self, fs: FeatureStore, user_ids: list[str], views: dict[str, tuple[str, ...]]
    ) -> dict[str, list[Any]]:
        """Feature name → values per player: the SQLite store through `OnlineReader` (a fifth
        of a `recommend`'s work saved), Redis through Feast's one pipelined round trip."""
        if self._reader is not None:
            return self._reader.read(schema.USER_ID, user_ids, views)
        rows = [{schema.USER_ID: user_id} for user_id in user_ids]
        if views == READ_FEATURES:  # the whole contract: ask for the service itself
            service = fs.get_feature_service(LIVE_STATE)
            return fs.get_online_features(features=service, entity_rows=rows).to_dict()
        refs = [f"{view}:{name}" for view, names in views.items() for name in names]
        return fs.get_online_features(features=refs, entity_rows=rows).to_dict()

    def _apply(self, by_user: dict[str, list[PlayEvent]]) -> list[ThresholdCrossing]:
        crossings: list[ThresholdCrossing] = []
        with self._hold_players(by_user):
            before = self._read(list(by_user), PLAY_ONLY)
            now = self._clock()
            after: list[UserLiveState] = []
            for user_id, events in by_user.items():
                new, crossed = apply_events(before[user_id], events, self.rules, now)
                if new != before[user_id]:
                    after.append(new)
                crossings.extend(crossed)
            if after:
                self._push(PLAY_PUSH, [_play_row(s) for s in after], now)
        return crossings

    def _update_profile(self, user_id: str, **changes: str) -> None:
        with self._hold_players([user_id]):
            current = self._read([user_id])[user_id]
            profile = {
                "suggestion_json": _dump(current.suggestion),
                "onboarding_json": _dump(current.onboarding),
                **changes,
            }
            self._push(PROFILE_PUSH, [{schema.USER_ID: user_id, **profile}], self._clock())

    def _push(self, push_source: str, rows: list[dict[str, Any]], now: datetime) -> None:
        """Write rows through a push source (see `push.OnlinePusher` for why not `fs.push`)."""

        def write(fs: FeatureStore) -> None:
            assert self._pusher is not None  # set together with the store
            self._pusher.push(push_source, schema.USER_ID, rows, now)

        self._feast(write)


def _player_locks(settings: Settings) -> UserLocks:
    """The player locks that reach every process sharing this online store."""
    if settings.online_store == "redis":
        import redis

        from slotrec.core.redis_url import CONNECT_TIMEOUT_SECONDS, REPLY_TIMEOUT_SECONDS

        client = redis.Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            socket_timeout=REPLY_TIMEOUT_SECONDS,
            retry=_fail_fast_retry(),
        )
        return RedisUserLocks(client)
    return StripedUserLocks(settings.layout.feast_dir / "live_state.lock")


def _ensure_definitions(store: FeatureStore, repo: FeatureRepo) -> None:
    """Apply the live-state definitions (and the risk view they read) if this registry lacks them.

    The risk view is applied too, so a service started before the first daily run can read it
    (no row yet: no risk level) in the same call as the live state. A live view registered with
    other features than its definition (a registry written by an older version) is applied
    anew: its players' live state starts afresh, which their daily snapshot still covers.
    """
    from feature_repo import entities

    registered = {
        fv.name: sorted(f.name for f in fv.features)
        for fv in store.list_feature_views(allow_cache=False)
    }
    wanted = {
        fv.name: sorted(f.name for f in fv.features) for fv in (repo.live.play, repo.live.profile)
    }
    missing: list[Any] = []
    if any(registered.get(name) != names for name, names in wanted.items()):
        stale = [name for name in wanted if name in registered and registered[name] != wanted[name]]
        if stale:
            log.warning("live views %s changed their features: applied anew", stale)
        missing.extend(repo.live.all())
    if RISK_VIEW not in registered:
        missing.append(repo.snapshots.player_risk)
    services = {
        s.name for s in store.registry.list_feature_services(store.project, allow_cache=False)
    }
    if LIVE_STATE not in services:
        missing.append(repo.services.live_state)
    if not missing:
        return
    log.info("applying the live-state definitions to the feature registry")
    store.apply([entities.user, *missing])
    store.refresh_registry()


def _tune_sqlite(store: FeatureStore) -> None:
    """Set the SQLite online store up for many small writes from several workers.

    WAL (persistent, per database file): in the default rollback-journal mode a writer waits for
    every reader and blocks them while it commits; with WAL, readers in other workers go on
    reading the last commit. synchronous=NORMAL (per connection, so on Feast's own one): a commit
    no longer waits for an fsync (~10 ms of a ~11 ms record() here). The database stays
    consistent; a power loss (not a process crash) may forget the last commits of live state,
    which the raw files, fsynced on their own, still hold. busy_timeout: a worker waits for
    another's commit instead of failing with "database is locked".
    """
    online = store._get_provider().online_store
    if not isinstance(online, SqliteOnlineStore):
        return
    conn = online._get_conn(store.config)  # the one connection Feast reads and writes with
    conn.execute("pragma journal_mode=wal")
    conn.execute("pragma synchronous=normal")
    conn.execute("pragma busy_timeout=10000")


def _fail_fast_retry() -> Any:
    """One immediate retry (a pooled connection dropped by a Redis restart), no backoff.

    redis-py's default is 3 retries with exponential backoff from 1 s: against a Redis that is
    down, each request would wait 4-10 s before the service could answer without the live state.
    """
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return Retry(NoBackoff(), 1)


def _tune_redis(store: FeatureStore) -> None:
    """Make the Redis online store's client (Feast's own) fail fast; see `_fail_fast_retry`."""
    if store.config.online_store.type != "redis":
        return
    from feast.infra.online_stores.redis import RedisOnlineStore

    online = store._get_provider().online_store
    if not isinstance(online, RedisOnlineStore):
        return
    client = online._get_client(store.config.online_store)  # created once, then reused by Feast
    client.set_retry(_fail_fast_retry())


def _epoch(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else 0.0


def _moment(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds else None


def _dump(document: dict | None) -> str:
    return json.dumps(document) if document is not None else ""


def _load(text: str | None) -> dict | None:
    return json.loads(text) if text else None


def _play_row(s: UserLiveState) -> dict[str, Any]:
    """One player's play state as a row of the live play view (`feature_repo.live_state`)."""
    document = {
        "played_slots": list(s.played_slots),
        "played_at": [_epoch(s.played_at.get(x)) for x in s.played_slots],
        "played_seconds": [float(s.recent_play_seconds.get(x, 0.0)) for x in s.played_slots],
        "current_slot": s.current_slot or "",
        "current_session_id": s.current_session_id or "",
        "current_started_at": _epoch(s.current_started_at),
        "current_slot_seconds": float(s.current_slot_seconds),
        "crossed_session_id": s.crossed_session_id or "",
        "recent_event_keys": list(s.recent_event_keys),
        "updated_at": _epoch(s.updated_at),
    }
    return {schema.USER_ID: s.user_id, "play_state_json": json.dumps(document)}


def _decode(user_id: str, row: dict[str, Any]) -> UserLiveState:
    """A state from one row of online features (missing features come back as None)."""
    play = _load(row.get("play_state_json")) or {}
    slots = list(play.get("played_slots") or [])
    played_at = list(play.get("played_at") or [])
    seconds = list(play.get("played_seconds") or [])
    return UserLiveState(
        user_id=user_id,
        played_slots=slots,
        recent_play_seconds={s: float(v) for s, v in zip(slots, seconds, strict=False)},
        current_slot=play.get("current_slot") or None,
        current_slot_seconds=float(play.get("current_slot_seconds") or 0.0),
        updated_at=_moment(play.get("updated_at")),
        suggestion=_load(row.get("suggestion_json")),
        onboarding=_load(row.get("onboarding_json")),
        played_at={
            s: moment
            for s, v in zip(slots, played_at, strict=False)
            if (moment := _moment(v)) is not None
        },
        current_session_id=play.get("current_session_id") or None,
        current_started_at=_moment(play.get("current_started_at")),
        crossed_session_id=play.get("crossed_session_id") or None,
        recent_event_keys=list(play.get("recent_event_keys") or []),
        risk_level=row.get("risk_level") or None,
    )
