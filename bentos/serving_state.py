"""What one service worker serves from: the bundle's snapshot and the registries it polls.

The bundle and the catalogue live in one immutable `Snapshot`, swapped whole on reload (one
reference assignment: a request sees the old snapshot or the new one, never half of each).
What must be shared between workers lives outside the process and is polled: new games and
reload requests in the new-game registry (`serving/new_games.sqlite`), restrictions in the
restriction registry, read on every request. A missing or unreadable bundle does not stop the
worker: it answers from popular slots until a load works.
"""

from __future__ import annotations

import gc
import logging
import threading
import time

import pandas as pd

from bentos.catalog import Catalog, load_catalog, slot_infos
from bentos.metrics import GUARDRAILS
from bentos.new_games import NewGameRegistry
from bentos.recommender.ranker import NewGamePools
from bentos.restrictions import Restriction, RestrictionRegistry
from bentos.snapshot import BundleUnavailable, Snapshot, load_snapshot, promoted_tag
from slotrec.core.policies.graduation import stage
from slotrec.core.settings import Settings

log = logging.getLogger(__name__)


def _freeze_heap() -> None:
    """Move every object alive now out of the garbage collector's sight (`gc.freeze`).

    A snapshot is hundreds of thousands of long-lived objects (id maps, catalogue rows): a full
    collection walking them takes ~180 ms (measured on the 100k × 3k bundle). Frozen objects
    are never scanned; they are freed normally once unreferenced (a replaced snapshot is
    collected by reference counting). The other source of full collections under load, BentoML's
    request timers, is fixed in `bentos.timeout_timer`.
    """
    gc.collect()
    gc.freeze()


class ServingState:
    """The snapshot a worker serves, the new-game pools, and the registries behind them."""

    def __init__(self, settings: Settings) -> None:
        """Open the registries and load the promoted bundle (a failure is kept, not raised)."""
        self.settings = settings
        self.registry = NewGameRegistry(settings.layout.new_games_registry_path)
        self.restriction_registry = RestrictionRegistry(settings.layout.restrictions_registry_path)
        self.reload_lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._next_poll = 0.0
        self._seen_seq = 0
        self.pools = NewGamePools()
        self._reload_generation = self.registry.reload_generation()
        self.snapshot: Snapshot | None = None
        self.bundle_error: str | None = None
        self.fallback_catalog = Catalog.empty()
        self.load(None)

    def load(self, tag: str | None) -> bool:
        """Build a snapshot off to the side and swap it in; False (and kept state) on failure."""
        try:
            snapshot = load_snapshot(self.settings, tag)
        except BundleUnavailable as exc:
            if self.snapshot is None:
                log.error("serving without a bundle: %s", exc)
            else:
                log.error("bundle not adopted, still serving %s: %s", self.snapshot.version, exc)
            self.bundle_error = str(exc)
            if self.snapshot is None and self.settings.layout.warehouse_path.exists():
                self.fallback_catalog = load_catalog(self.settings.layout.warehouse_path)
            return False
        self._apply_registrations(snapshot, since=0)
        self.snapshot = snapshot  # one reference assignment: requests see old or new
        self.bundle_error = None
        _freeze_heap()
        log.info("serving bundle %s", snapshot.version)
        return True

    def reload(self) -> tuple[str | None, str | None, bool]:
        """Adopt the promoted bundle; (previous version, current version, whether it loaded)."""
        with self.reload_lock:
            previous = self.snapshot.version if self.snapshot else None
            tag = promoted_tag(self.settings)
            if tag is not None and tag == previous:
                return previous, previous, True
            if not self.load(tag):
                return previous, previous, False
            self._reload_generation = self.registry.request_reload()
            return previous, self.snapshot.version if self.snapshot else None, True

    def poll(self, force: bool = False) -> None:
        """Pick up new games, exposure counts and reload requests from other workers."""
        now = time.monotonic()
        if not force and now < self._next_poll:
            return
        if not self._poll_lock.acquire(blocking=force):
            return  # another thread is polling right now
        try:
            self._next_poll = now + self.settings.serving_poll_seconds
            snapshot = self.snapshot
            if snapshot is not None:
                self._seen_seq = self._apply_registrations(snapshot, self._seen_seq)
                self.pools = self._new_game_pools(snapshot)
            generation = self.registry.reload_generation()
            if generation != self._reload_generation:
                self._reload_generation = generation
                threading.Thread(target=self._reload_quietly, daemon=True).start()
        except Exception:  # the registry file is optional to serving: log and go on
            log.exception("polling the new-game registry failed")
        finally:
            self._poll_lock.release()

    def restricted(self, user_id: str, endpoint: str) -> bool:
        """Whether a player must get nothing now (counted as a guardrail when so).

        Read per request, so a restriction set by any worker holds from the next request on.
        If the registry cannot be read the answer is True: showing no slots to everyone for a
        moment is the lesser harm than showing slots to a self-excluded player.
        """
        try:
            restriction: Restriction | None = self.restriction_registry.active(user_id)
        except Exception:
            log.exception("the restriction registry could not be read: recommending nothing")
            GUARDRAILS.labels(guardrail="restriction_check_failed", endpoint=endpoint).inc()
            return True
        if restriction is None:
            return False
        GUARDRAILS.labels(guardrail="restricted", endpoint=endpoint).inc()
        return True

    def _apply_registrations(self, snapshot: Snapshot, since: int) -> int:
        """Put games registered after `since` into the snapshot's catalogue and index."""
        registrations = self.registry.since(since)
        if not registrations:
            return since
        frame = pd.DataFrame([r.payload for r in registrations]).drop_duplicates(
            "slot_id", keep="last"
        )
        frame["jurisdictions"] = frame["jurisdictions"].map(",".join)
        snapshot.catalog.replace_slots({**snapshot.catalog.slots, **slot_infos(frame)})
        unknown = frame[~frame["slot_id"].isin(list(snapshot.slot_rows))]
        if len(unknown) and snapshot.embedder is not None:
            vectors = snapshot.embedder.predict(unknown)  # [n_new, dim]
            snapshot.live = snapshot.live.with_slots(
                unknown["slot_id"].tolist(), vectors, snapshot.slot_rows
            )
        return registrations[-1].seq

    def _new_game_pools(self, snapshot: Snapshot) -> NewGamePools:
        stages: dict[str, set[str]] = {"exploring": set(), "graduated": set(), "retired": set()}
        cap, rate = self.settings.new_game_exposure_cap, self.settings.new_game_min_play_rate
        for slot_id, (impressions, plays) in self.registry.exposure().items():
            if slot_id in snapshot.slot_rows:
                continue  # the model has learned it: an ordinary slot now
            stages[stage(impressions, plays, cap, rate)].add(slot_id)
        return NewGamePools(*(frozenset(stages[s]) for s in stages))

    def _reload_quietly(self) -> None:
        with self.reload_lock:
            self.load(promoted_tag(self.settings))
