"""The slotrec HTTP service: what a casino lobby calls.

`bentoml serve bentos.service:SlotrecService` (or `slotrec serve`) starts it. Endpoints (all
POST, JSON; the OpenAPI page at `/` documents them): `recommend`, `similar`, `events`, `onboard`,
`slots`, `restrictions` and `reload` (admin), `noop` (the benchmark's ceiling), plus BentoML's
`/livez`, `/readyz` and `/metrics`.

State: the bundle and the catalogue live in one immutable `Snapshot` per worker, swapped whole
on reload; everything that must be shared between workers lives outside the process: players'
live state in the Feast online store (`bentos.realtime`), new games and reload requests in
`serving/new_games.sqlite`, self-excluded and cooling-off players in `serving/restrictions.sqlite`
(read on every request, so a restriction holds from the next request on, in every worker: a
restricted player gets empty lists, `restricted: true`, and no suggestion, exploration or
new-game exposure; see `bentos.restrictions`). The bundle is not referenced at class level (as a
built Bento would carry it) on purpose: which bundle serves is decided at run time by
`models/promoted.json`, so a promotion or rollback needs a reload, not a rebuild.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http import HTTPStatus

import bentoml
import pandas as pd

from bentos import api, metrics
from bentos.catalog import Catalog, load_catalog, slot_infos
from bentos.client_errors import log_client_errors_as_warnings
from bentos.guard import RequestGuard
from bentos.native_threads import pin_this_thread
from bentos.new_games import NewGameRegistry
from bentos.realtime.events import refuse_absurd_amounts
from bentos.realtime.state import ThresholdCrossing, UserLiveState
from bentos.realtime.store import LiveStateStore, LiveStateUnavailable
from bentos.recommender import ranker
from bentos.recommender.exploration import in_exploration_segment
from bentos.recommender.fallback import popular_fallback
from bentos.restrictions import Restriction, RestrictionRegistry
from bentos.snapshot import BundleUnavailable, Snapshot, load_snapshot, promoted_tag
from bentos.timeout_timer import cancel_timeout_timers
from slotrec.core.clock import service_clock
from slotrec.core.policies.experiments import Strategy, assign, load_experiments
from slotrec.core.policies.graduation import stage
from slotrec.core.policies.guardrails import (
    REALITY_CHECK,
    reality_check_message,
    risk_policy,
)
from slotrec.core.settings import Settings, get_settings

log = logging.getLogger(__name__)

# Before BentoML builds the app: its request timeout otherwise keeps each request's objects
# alive for 30 s, and the garbage collector's full passes over them stalled the worker.
cancel_timeout_timers()
# A client's bad request (422, 404, 409) is a warning line, not "[ERROR] Exception on ...".
log_client_errors_as_warnings()

API_PATHS = frozenset(
    {"/recommend", "/similar", "/events", "/onboard", "/slots", "/restrictions", "/reload", "/noop"}
)
SUGGESTION_K = 3


def _request_id() -> str:
    return f"req-{uuid.uuid4().hex[:20]}"


@contextmanager
def _timed(endpoint: str) -> Iterator[None]:
    """Time an endpoint call, in the thread that serves it, with native pools at one thread."""
    pin_this_thread()
    started = time.perf_counter()
    try:
        yield
    finally:
        metrics.LATENCY.labels(endpoint=endpoint).observe(time.perf_counter() - started)


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


# BentoML takes the worker count and the access log from the decorator, when this module is
# imported: the one place the service reads its settings at import.
_STARTUP = get_settings()


@bentoml.service(
    name="slotrec",
    workers=_STARTUP.serve_workers,
    traffic={"timeout": 30, "concurrency": 64},
    http={"port": 3000},
    logging={"access": {"enabled": _STARTUP.access_log}},
)
class SlotrecService:
    """Slot recommendations over HTTP (see the module docstring)."""

    def __init__(self, settings: Settings | None = None) -> None:
        """Load the promoted bundle, open the live-state store and the new-game registry.

        A missing or unreadable bundle does not stop the service: it answers from popular
        slots (`fallback: true`) and `/readyz` says it is degraded until a `reload` works.
        """
        self.settings = settings or get_settings()
        # Loading runs here; every request thread pins itself (`bentos.native_threads`).
        pin_this_thread()
        self.experiments = load_experiments(self.settings)
        self.base_strategy = Strategy.from_settings(self.settings)
        self.registry = NewGameRegistry(self.settings.layout.root / "serving" / "new_games.sqlite")
        self.restriction_registry = RestrictionRegistry(
            self.settings.layout.restrictions_registry_path
        )
        self._reload_lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._next_poll = 0.0
        self._seen_seq = 0
        self._pools = ranker.NewGamePools()
        self._reload_generation = self.registry.reload_generation()
        self.snapshot: Snapshot | None = None
        self.bundle_error: str | None = None
        self.fallback_catalog = Catalog.empty()
        self._load(None)
        # the wall clock, or the closed-loop demo's simulated one (`slotrec.core.clock`)
        self.clock = service_clock(self.settings.clock_file)
        self.store = LiveStateStore(self.settings, clock=self.clock)

    # --- state ---------------------------------------------------------------------------

    def _load(self, tag: str | None) -> bool:
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

    def _poll(self, force: bool = False) -> None:
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
                self._pools = self._new_game_pools(snapshot)
            generation = self.registry.reload_generation()
            if generation != self._reload_generation:
                self._reload_generation = generation
                threading.Thread(target=self._reload_quietly, daemon=True).start()
        except Exception:  # the registry file is optional to serving: log and go on
            log.exception("polling the new-game registry failed")
        finally:
            self._poll_lock.release()

    def _new_game_pools(self, snapshot: Snapshot) -> ranker.NewGamePools:
        stages: dict[str, set[str]] = {"exploring": set(), "graduated": set(), "retired": set()}
        cap, rate = self.settings.new_game_exposure_cap, self.settings.new_game_min_play_rate
        for slot_id, (impressions, plays) in self.registry.exposure().items():
            if slot_id in snapshot.slot_rows:
                continue  # the model has learned it: an ordinary slot now
            stages[stage(impressions, plays, cap, rate)].add(slot_id)
        return ranker.NewGamePools(*(frozenset(stages[s]) for s in stages))

    def _reload_quietly(self) -> None:
        with self._reload_lock:
            self._load(promoted_tag(self.settings))

    def _live_state(self, user_id: str) -> UserLiveState:
        return self.store.state(user_id)

    def _restricted(self, user_id: str, endpoint: str) -> bool:
        """Whether a player must get nothing now (counted as a guardrail when so).

        Read per request, so a restriction set by any worker holds from the next request on.
        If the registry cannot be read the answer is True: showing no slots to everyone for a
        moment is the lesser harm than showing slots to a self-excluded player.
        """
        try:
            restriction: Restriction | None = self.restriction_registry.active(user_id)
        except Exception:
            log.exception("the restriction registry could not be read: recommending nothing")
            metrics.GUARDRAILS.labels(guardrail="restriction_check_failed", endpoint=endpoint).inc()
            return True
        if restriction is None:
            return False
        metrics.GUARDRAILS.labels(guardrail="restricted", endpoint=endpoint).inc()
        return True

    # --- lifecycle hooks BentoML calls ---------------------------------------------------

    def __is_ready__(self) -> bool:
        """Ready when a bundle serves and the online store answers (else: degraded, 503)."""
        return self.snapshot is not None and self.store.healthy()

    @bentoml.on_shutdown
    def _shutdown(self) -> None:
        self.store.close()

    # --- endpoints -----------------------------------------------------------------------

    @bentoml.api
    def recommend(self, request: api.RecommendRequest, /) -> api.RecommendResponse:
        """Rank k slots for a player: FAISS candidates → rules → NeuMF → explore → diversify."""
        with _timed("recommend"):
            self._poll()
            request_id = _request_id()
            experiment, variant, strategy = assign(
                self.experiments, request.user_id, self.base_strategy
            )
            if self._restricted(request.user_id, "recommend"):
                # before the bundle, the store and the ranker: nothing can leak past it, and
                # nothing is shown, so no impression is logged
                metrics.REQUESTS.labels(endpoint="recommend", outcome="restricted").inc()
                snapshot = self.snapshot
                return api.RecommendResponse(
                    user_id=request.user_id,
                    items=[],
                    request_id=request_id,
                    model_version=snapshot.version if snapshot else None,
                    experiment=experiment,
                    variant=variant,
                    fallback=False,
                    cold_start=False,
                    restricted=True,
                )
            live: UserLiveState | None = None
            cause: str | None = None
            try:
                live = self._live_state(request.user_id)
            except LiveStateUnavailable as exc:
                cause = f"online store unavailable: {exc}"
            snapshot = self.snapshot
            if snapshot is None:
                cause = cause or f"no bundle: {self.bundle_error}"
            response: api.RecommendResponse | None = None
            if cause is None and snapshot is not None:
                try:
                    response = self._ranked(
                        snapshot, request, live, request_id, experiment, variant, strategy
                    )
                except Exception as exc:  # the model or the index failed: still answer
                    log.exception("ranking failed for %s", request.user_id)
                    cause = f"ranking failed: {type(exc).__name__}"
            if response is None:
                response = self._fallback(request, live, request_id, experiment, variant, cause)
            self._log_impressions(
                request.user_id,
                request_id,
                response.items,
                (response.experiment, response.variant),
                response.guardrails,
            )
            outcome = "fallback" if response.fallback else "ok"
            metrics.REQUESTS.labels(endpoint="recommend", outcome=outcome).inc()
            return response

    def _ranked(
        self,
        snapshot: Snapshot,
        request: api.RecommendRequest,
        live: UserLiveState | None,
        request_id: str,
        experiment: str | None,
        variant: str,
        strategy: Strategy,
    ) -> api.RecommendResponse:
        ranking = ranker.recommend(
            snapshot,
            self._pools,
            ranker.RankRequest(
                user_id=request.user_id,
                k=request.k,
                strategy=strategy,
                context_slot=request.context.slot_id if request.context else None,
                exclude=frozenset(request.exclude),
                live=live,
                explore=in_exploration_segment(
                    request.user_id, self.settings.exploration_user_share
                ),
                seed=int(request_id[4:12], 16),
                risk=risk_policy(live.risk_level if live else None, self.settings),
            ),
        )
        self._count_guardrails(ranking.guardrails, "recommend")
        for item in ranking.items:
            if item.reason in ("exploration", "new_game"):
                metrics.EXPLORATION.labels(kind=item.reason).inc()
        if ranking.explored_new_games:
            self.registry.count_impressions(ranking.explored_new_games)
        return api.RecommendResponse(
            user_id=request.user_id,
            items=ranking.items,
            request_id=request_id,
            model_version=snapshot.version,
            experiment=experiment,
            variant=variant,
            fallback=False,
            cold_start=ranking.cold_start,
            notes=ranking.notes,
            # an at-risk player is shown no next-slot suggestion (a reality check instead)
            suggestion=None if ranking.guardrails else _kept_suggestion(live),
            guardrails=ranking.guardrails,
        )

    def _fallback(
        self,
        request: api.RecommendRequest,
        live: UserLiveState | None,
        request_id: str,
        experiment: str | None,
        variant: str,
        cause: str | None,
    ) -> api.RecommendResponse:
        snapshot = self.snapshot
        catalog = snapshot.catalog if snapshot is not None else self.fallback_catalog
        metrics.FALLBACKS.labels(cause=(cause or "unknown").split(":")[0]).inc()
        risk = risk_policy(live.risk_level if live else None, self.settings)
        guardrails = risk.filter_guardrails if risk else []
        self._count_guardrails(guardrails, "recommend")
        items = popular_fallback(
            catalog,
            request.user_id,
            request.k,
            exclude=frozenset(request.exclude)
            | frozenset(risk.excluded(catalog.slots, catalog.slots) if risk else ()),
            played=set(live.played_slots) if live else set(),
            bundle_popular=snapshot.popularity.get("global") if snapshot else None,
        )
        return api.RecommendResponse(
            user_id=request.user_id,
            items=items,
            request_id=request_id,
            model_version=snapshot.version if snapshot else None,
            experiment=experiment,
            variant=variant,
            fallback=True,
            fallback_reason=cause,
            cold_start=snapshot is None or request.user_id not in snapshot.user_rows,
            suggestion=None if risk else _kept_suggestion(live),
            guardrails=guardrails,
        )

    def _log_impressions(
        self,
        user_id: str,
        request_id: str,
        items: list[api.RecommendedSlot],
        arm: tuple[str | None, str | None],
        guardrails: list[str],
    ) -> None:
        """Every served list becomes impression events in the raw files, for attribution.

        Each row also says what the service decided for the list: the experiment and variant
        (`arm`), the tile's place, the guardrails it was made under; monitoring reads these
        instead of working them out again from the rules.
        """
        now = self.clock()
        experiment, variant = arm
        applied = ",".join(guardrails) or None
        # Built as raw rows directly (the contract's columns): the ids were validated on the
        # way in, and a pydantic model per impression would cost more than the ranking.
        rows = [
            {
                "event_id": f"{request_id}-{rank}",
                "user_id": user_id,
                "slot_id": item.slot_id,
                "session_id": None,
                "event_type": "impression",
                "occurred_at": now,
                "duration_seconds": 0.0,
                "bet_amount": None,
                "win_amount": None,
                "request_id": request_id,
                "experiment": experiment,
                "variant": variant,
                "list_position": rank + 1,
                "guardrails": applied,
            }
            for rank, item in enumerate(items)
        ]
        if rows:
            self.store.sink.add(rows)

    @bentoml.api
    def similar(self, request: api.SimilarRequest, /) -> api.SimilarResponse:
        """Slots like a given slot (FAISS), re-ranked for a player when `user_id` is given."""
        with _timed("similar"):
            self._poll()
            snapshot = self.snapshot
            if request.user_id is not None and self._restricted(request.user_id, "similar"):
                metrics.REQUESTS.labels(endpoint="similar", outcome="restricted").inc()
                return api.SimilarResponse(
                    slot_id=request.slot_id,
                    items=[],
                    model_version=snapshot.version if snapshot else None,
                    personalised=True,
                    restricted=True,
                )
            if snapshot is None:
                raise bentoml.exceptions.ServiceUnavailable(
                    f"no bundle is loaded: {self.bundle_error}"
                )
            live = None
            if request.user_id is not None:
                try:
                    live = self._live_state(request.user_id)
                except LiveStateUnavailable:
                    live = None
            hidden = self._pools.exploring | self._pools.retired
            risk = risk_policy(live.risk_level if live else None, self.settings)
            if risk is not None:  # an at-risk player: no new games, no excluded volatility
                slots = snapshot.catalog.slots
                hidden = hidden | self._pools.graduated | frozenset(risk.excluded(slots, slots))
            try:
                items = ranker.similar(
                    snapshot,
                    request.slot_id,
                    request.k,
                    request.user_id,
                    live,
                    hidden=hidden,
                )
            except KeyError:
                metrics.REQUESTS.labels(endpoint="similar", outcome="client_error").inc()
                raise bentoml.exceptions.NotFound(
                    f"slot_id {request.slot_id!r} is not in the index"
                ) from None
            metrics.REQUESTS.labels(endpoint="similar", outcome="ok").inc()
            guardrails = risk.filter_guardrails if risk else []
            self._count_guardrails(guardrails, "similar")
            return api.SimilarResponse(
                slot_id=request.slot_id,
                items=items,
                model_version=snapshot.version,
                personalised=request.user_id is not None,
                guardrails=guardrails,
            )

    @bentoml.api
    def events(self, request: api.EventsRequest, /) -> api.EventsResponse:
        """Record play events; answer with a fresh suggestion for each threshold crossing."""
        with _timed("events"):
            refuse_absurd_amounts(list(request.events), self.settings.max_event_amount)
            self._poll()
            pools = self._pools
            registered = pools.exploring | pools.graduated | pools.retired
            new_game_plays = [
                e.slot_id
                for e in request.events
                if e.event_type == "session_start" and e.slot_id in registered
            ]
            if new_game_plays:
                self.registry.count_plays(new_game_plays)
            try:
                crossings = self.store.record(list(request.events))
            except LiveStateUnavailable as exc:
                log.warning("events kept in the raw files only: %s", exc)
                metrics.REQUESTS.labels(endpoint="events", outcome="degraded").inc()
                return api.EventsResponse(accepted=len(request.events), degraded=True)
            # plays of a restricted player are recorded (the raw log stays complete), but
            # the threshold makes no suggestion for them
            withheld = sorted(
                {c.user_id for c in crossings if self._restricted(c.user_id, "events")}
            )
            suggestions: list[api.Suggestion] = []
            reality_checks: list[api.RealityCheck] = []
            for c in crossings:
                if c.user_id in withheld:
                    continue
                check = self._reality_check(c)
                if check is not None:
                    reality_checks.append(check)
                elif (s := self._suggest(c)) is not None:
                    suggestions.append(s)
            metrics.REQUESTS.labels(endpoint="events", outcome="ok").inc()
            return api.EventsResponse(
                accepted=len(request.events),
                suggestions=suggestions,
                withheld=withheld,
                reality_checks=reality_checks,
                guardrails=[REALITY_CHECK] if reality_checks else [],
            )

    def _reality_check(self, crossing: ThresholdCrossing) -> api.RealityCheck | None:
        """A take-a-break message for an at-risk player at the threshold (None: not at risk).

        No suggestion is made or kept for them. If the risk level cannot be read the player is
        treated as not at risk: the daily level is the only evidence there is.
        """
        try:
            level = self._live_state(crossing.user_id).risk_level
        except LiveStateUnavailable:
            return None
        risk = risk_policy(level, self.settings)
        if risk is None:
            return None
        self._count_guardrails([REALITY_CHECK], "events")
        return api.RealityCheck(
            user_id=crossing.user_id,
            message=reality_check_message(self.settings, crossing.seconds),
            minutes_played=round(crossing.seconds / 60.0, 1),
            after_slot_id=crossing.slot_id,
            risk_level=risk.level,
        )

    def _count_guardrails(self, guardrails: list[str], endpoint: str) -> None:
        for guardrail in guardrails:
            metrics.GUARDRAILS.labels(guardrail=guardrail, endpoint=endpoint).inc()

    def _suggest(self, crossing: ThresholdCrossing) -> api.Suggestion | None:
        """A next-slot suggestion for the moment a player crossed the threshold, kept for later."""
        snapshot = self.snapshot
        if snapshot is None:
            return None
        try:
            live = self._live_state(crossing.user_id)
            request_id = _request_id()
            experiment, variant, strategy = assign(
                self.experiments, crossing.user_id, self.base_strategy
            )
            ranking = ranker.recommend(
                snapshot,
                self._pools,
                ranker.RankRequest(
                    user_id=crossing.user_id,
                    k=SUGGESTION_K,
                    strategy=strategy,
                    context_slot=crossing.slot_id,
                    live=live,
                ),
            )
            suggestion = api.Suggestion(
                user_id=crossing.user_id,
                after_slot_id=crossing.slot_id,
                seconds_played=crossing.seconds,
                items=ranking.items,
                request_id=request_id,
                created_at=datetime.now(UTC).isoformat(),
            )
            self.store.keep_suggestion(crossing.user_id, suggestion.model_dump(mode="json"))
            self._log_impressions(
                crossing.user_id, request_id, ranking.items, (experiment, variant), []
            )
        except LiveStateUnavailable:
            return None
        metrics.SUGGESTIONS.inc()
        return suggestion

    @bentoml.api
    def onboard(self, request: api.OnboardRequest, /) -> api.OnboardResponse:
        """Save a new player's survey answers; they steer the player's cold-start lists."""
        with _timed("onboard"):
            snapshot = self.snapshot
            known = (
                set(snapshot.embedder.providers)
                if snapshot is not None and snapshot.embedder is not None
                else None
            )
            ignored = [p for p in request.providers if known is not None and p not in known]
            answers = {
                "themes": list(request.themes),
                "volatility": list(request.volatility),
                "providers": [p for p in request.providers if p not in ignored],
            }
            try:
                self.store.save_onboarding(request.user_id, answers)
            except LiveStateUnavailable as exc:
                raise bentoml.exceptions.ServiceUnavailable(
                    f"onboarding answers could not be saved: {exc}"
                ) from exc
            metrics.REQUESTS.labels(endpoint="onboard", outcome="ok").inc()
            return api.OnboardResponse(
                user_id=request.user_id,
                saved=True,
                ignored_providers=ignored,
                restricted=self._restricted(request.user_id, "onboard"),
            )

    @bentoml.api
    def slots(self, registration: api.SlotRegistration, /) -> api.SlotRegistered:
        """Register a new or changed game (admin): live in every worker's index in seconds."""
        with _timed("slots"):
            status = self.registry.register(registration.model_dump(mode="json"))
            self._poll(force=True)
            snapshot = self.snapshot
            in_index = snapshot is not None and registration.slot_id in snapshot.live.rows
            metrics.REQUESTS.labels(endpoint="slots", outcome="ok").inc()
            return api.SlotRegistered(
                slot_id=registration.slot_id,
                status=status,
                in_index=in_index,
                exploration=registration.slot_id in self._pools.exploring,
            )

    @bentoml.api
    def restrictions(self, change: api.RestrictionChange, /) -> api.RestrictionStatus:
        """Set or lift a player's self-exclusion or cooling-off (admin): in force at once."""
        with _timed("restrictions"):
            if change.action == "set":
                assert change.kind is not None  # the request model requires it to set
                self.restriction_registry.set(
                    change.user_id, change.kind, change.until_at, "admin", change.reason
                )
                changed = True
            else:
                changed = self.restriction_registry.remove(change.user_id, "admin")
            now = datetime.now(UTC)
            rows = self.restriction_registry.of(change.user_id)
            metrics.REQUESTS.labels(endpoint="restrictions", outcome="ok").inc()
            return api.RestrictionStatus(
                user_id=change.user_id,
                changed=changed,
                restricted=any(r.in_force(now) for r in rows),
                restrictions=[
                    api.RestrictionEntry(
                        kind=r.kind,
                        until_at=r.until_at.isoformat() if r.until_at else None,
                        source=r.source,
                        in_force=r.in_force(now),
                        reason=r.reason,
                    )
                    for r in rows
                ],
            )

    @bentoml.api
    def reload(self) -> api.ReloadResponse:
        """Adopt the promoted bundle (admin); every other worker follows within a poll."""
        with _timed("reload"), self._reload_lock:
            previous = self.snapshot.version if self.snapshot else None
            tag = promoted_tag(self.settings)
            if tag is not None and tag == previous:
                return api.ReloadResponse(
                    previous_version=previous, model_version=previous, changed=False
                )
            if not self._load(tag):
                # 409, not 503: BentoML replaces the message of every 5xx with a generic one,
                # and the operator needs the reason. The request conflicts with the state of
                # the model store (the promoted bundle is missing or unreadable); the service
                # itself is fine and keeps serving `previous`.
                metrics.REQUESTS.labels(endpoint="reload", outcome="refused").inc()
                raise bentoml.exceptions.BentoMLException(
                    f"reload refused, still serving {previous}: {self.bundle_error}",
                    error_code=HTTPStatus.CONFLICT,
                )
            self._reload_generation = self.registry.request_reload()
            metrics.REQUESTS.labels(endpoint="reload", outcome="ok").inc()
            current = self.snapshot.version if self.snapshot else None
            return api.ReloadResponse(
                previous_version=previous, model_version=current, changed=current != previous
            )

    @bentoml.api
    def noop(self) -> dict[str, bool]:
        """Does nothing: the benchmark's ceiling for this server on this machine."""
        return {"ok": True}


def _kept_suggestion(live: UserLiveState | None) -> api.Suggestion | None:
    if live is None or not live.suggestion:
        return None
    try:
        return api.Suggestion.model_validate(live.suggestion)
    except ValueError:
        return None


# BentoML's decorator returns a Service object that mypy cannot see through.
SlotrecService.add_asgi_middleware(  # type: ignore[attr-defined]
    RequestGuard, settings_factory=get_settings, api_paths=API_PATHS
)
