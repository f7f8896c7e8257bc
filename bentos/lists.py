"""Making the lists a lobby shows: `recommend`, `similar`, and the suggestion at the threshold.

Every list is made for a player at a moment: their restriction (checked first, before the
bundle, the online store and the ranker, so nothing can leak past it), their live state, their
experiment arm, their risk level's guardrails. A list that cannot be ranked (no bundle, the
online store down, the model failing) is answered from popular slots with `fallback: true`,
never with an error. Every served list is logged as impression events in the raw files, naming
the arm, each tile's place and the guardrails it was made under.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from bentos import api, metrics
from bentos.errors import NotFound, Unavailable
from bentos.realtime.state import ThresholdCrossing, UserLiveState
from bentos.realtime.store import LiveStateStore, LiveStateUnavailable
from bentos.recommender import ranker
from bentos.recommender.exploration import in_exploration_segment
from bentos.recommender.fallback import popular_fallback
from bentos.serving_state import ServingState
from bentos.snapshot import Snapshot
from slotrec.core.policies.experiments import Experiment, Strategy, assign
from slotrec.core.policies.guardrails import risk_policy
from slotrec.core.settings import Settings

log = logging.getLogger(__name__)

SUGGESTION_K = 3


def request_id() -> str:
    """A fresh id for one served list."""
    return f"req-{uuid.uuid4().hex[:20]}"


def count_guardrails(guardrails: list[str], endpoint: str) -> None:
    """Count each guardrail applied to a request (`slotrec_guardrail_total`)."""
    for guardrail in guardrails:
        metrics.GUARDRAILS.labels(guardrail=guardrail, endpoint=endpoint).inc()


def kept_suggestion(live: UserLiveState | None) -> api.Suggestion | None:
    """The suggestion kept in the live state, if any (a malformed one counts as none)."""
    if live is None or not live.suggestion:
        return None
    try:
        return api.Suggestion.model_validate(live.suggestion)
    except ValueError:
        return None


class Lists:
    """The list endpoints of one worker, over its serving state and the live-state store."""

    def __init__(
        self,
        settings: Settings,
        state: ServingState,
        store: LiveStateStore,
        experiments: list[Experiment],
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.state = state
        self.store = store
        self.experiments = experiments
        self.base_strategy = Strategy.from_settings(settings)
        self.clock = clock

    def recommend(self, request: api.RecommendRequest) -> api.RecommendResponse:
        """Rank k slots for a player: FAISS candidates → rules → NeuMF → explore → diversify."""
        rid = request_id()
        experiment, variant, strategy = assign(
            self.experiments, request.user_id, self.base_strategy
        )
        if self.state.restricted(request.user_id, "recommend"):
            # nothing is shown, so no impression is logged
            metrics.REQUESTS.labels(endpoint="recommend", outcome="restricted").inc()
            snapshot = self.state.snapshot
            return api.RecommendResponse(
                user_id=request.user_id,
                items=[],
                request_id=rid,
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
            live = self.store.state(request.user_id)
        except LiveStateUnavailable as exc:
            cause = f"online store unavailable: {exc}"
        snapshot = self.state.snapshot
        if snapshot is None:
            cause = cause or f"no bundle: {self.state.bundle_error}"
        response: api.RecommendResponse | None = None
        if cause is None and snapshot is not None:
            try:
                response = self.ranked(
                    snapshot, request, live, rid, (experiment, variant), strategy
                )
            except Exception as exc:  # the model or the index failed: still answer
                log.exception("ranking failed for %s", request.user_id)
                cause = f"ranking failed: {type(exc).__name__}"
        if response is None:
            response = self.fallback(request, live, rid, (experiment, variant), cause)
        self.log_impressions(
            request.user_id,
            rid,
            response.items,
            (response.experiment, response.variant),
            response.guardrails,
        )
        outcome = "fallback" if response.fallback else "ok"
        metrics.REQUESTS.labels(endpoint="recommend", outcome=outcome).inc()
        return response

    def ranked(
        self,
        snapshot: Snapshot,
        request: api.RecommendRequest,
        live: UserLiveState | None,
        rid: str,
        arm: tuple[str | None, str],
        strategy: Strategy,
    ) -> api.RecommendResponse:
        """The list the ranker makes for the player's state and arm."""
        ranking = ranker.recommend(
            snapshot,
            self.state.pools,
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
                seed=int(rid[4:12], 16),
                risk=risk_policy(live.risk_level if live else None, self.settings),
            ),
        )
        count_guardrails(ranking.guardrails, "recommend")
        for item in ranking.items:
            if item.reason in ("exploration", "new_game"):
                metrics.EXPLORATION.labels(kind=item.reason).inc()
        if ranking.explored_new_games:
            self.state.registry.count_impressions(ranking.explored_new_games)
        return api.RecommendResponse(
            user_id=request.user_id,
            items=ranking.items,
            request_id=rid,
            model_version=snapshot.version,
            experiment=arm[0],
            variant=arm[1],
            fallback=False,
            cold_start=ranking.cold_start,
            notes=ranking.notes,
            # an at-risk player is shown no next-slot suggestion (a reality check instead)
            suggestion=None if ranking.guardrails else kept_suggestion(live),
            guardrails=ranking.guardrails,
        )

    def fallback(
        self,
        request: api.RecommendRequest,
        live: UserLiveState | None,
        rid: str,
        arm: tuple[str | None, str],
        cause: str | None,
    ) -> api.RecommendResponse:
        """Popular slots for the player (the guardrails' exclusions still apply)."""
        snapshot = self.state.snapshot
        catalog = snapshot.catalog if snapshot is not None else self.state.fallback_catalog
        metrics.FALLBACKS.labels(cause=(cause or "unknown").split(":")[0]).inc()
        risk = risk_policy(live.risk_level if live else None, self.settings)
        guardrails = risk.filter_guardrails if risk else []
        count_guardrails(guardrails, "recommend")
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
            request_id=rid,
            model_version=snapshot.version if snapshot else None,
            experiment=arm[0],
            variant=arm[1],
            fallback=True,
            fallback_reason=cause,
            cold_start=snapshot is None or request.user_id not in snapshot.user_rows,
            suggestion=None if risk else kept_suggestion(live),
            guardrails=guardrails,
        )

    def similar(self, request: api.SimilarRequest) -> api.SimilarResponse:
        """Slots like a given slot (FAISS), re-ranked for a player when `user_id` is given.

        Raises:
            Unavailable: no bundle is loaded.
            NotFound: the slot is not in the index.
        """
        snapshot = self.state.snapshot
        if request.user_id is not None and self.state.restricted(request.user_id, "similar"):
            metrics.REQUESTS.labels(endpoint="similar", outcome="restricted").inc()
            return api.SimilarResponse(
                slot_id=request.slot_id,
                items=[],
                model_version=snapshot.version if snapshot else None,
                personalised=True,
                restricted=True,
            )
        if snapshot is None:
            raise Unavailable(f"no bundle is loaded: {self.state.bundle_error}")
        live = None
        if request.user_id is not None:
            try:
                live = self.store.state(request.user_id)
            except LiveStateUnavailable:
                live = None
        pools = self.state.pools
        hidden = pools.exploring | pools.retired
        risk = risk_policy(live.risk_level if live else None, self.settings)
        if risk is not None:  # an at-risk player: no new games, no excluded volatility
            slots = snapshot.catalog.slots
            hidden = hidden | pools.graduated | frozenset(risk.excluded(slots, slots))
        try:
            items = ranker.similar(
                snapshot, request.slot_id, request.k, request.user_id, live, hidden=hidden
            )
        except KeyError:
            metrics.REQUESTS.labels(endpoint="similar", outcome="client_error").inc()
            raise NotFound(f"slot_id {request.slot_id!r} is not in the index") from None
        metrics.REQUESTS.labels(endpoint="similar", outcome="ok").inc()
        guardrails = risk.filter_guardrails if risk else []
        count_guardrails(guardrails, "similar")
        return api.SimilarResponse(
            slot_id=request.slot_id,
            items=items,
            model_version=snapshot.version,
            personalised=request.user_id is not None,
            guardrails=guardrails,
        )

    def suggest(self, crossing: ThresholdCrossing) -> api.Suggestion | None:
        """A next-slot suggestion for the moment a player crossed the threshold, kept for later."""
        snapshot = self.state.snapshot
        if snapshot is None:
            return None
        try:
            live = self.store.state(crossing.user_id)
            rid = request_id()
            experiment, variant, strategy = assign(
                self.experiments, crossing.user_id, self.base_strategy
            )
            ranking = ranker.recommend(
                snapshot,
                self.state.pools,
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
                request_id=rid,
                created_at=datetime.now(UTC).isoformat(),
            )
            self.store.keep_suggestion(crossing.user_id, suggestion.model_dump(mode="json"))
            self.log_impressions(crossing.user_id, rid, ranking.items, (experiment, variant), [])
        except LiveStateUnavailable:
            return None
        metrics.SUGGESTIONS.inc()
        return suggestion

    def log_impressions(
        self,
        user_id: str,
        rid: str,
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
                "event_id": f"{rid}-{rank}",
                "user_id": user_id,
                "slot_id": item.slot_id,
                "session_id": None,
                "event_type": "impression",
                "occurred_at": now,
                "duration_seconds": 0.0,
                "bet_amount": None,
                "win_amount": None,
                "request_id": rid,
                "experiment": experiment,
                "variant": variant,
                "list_position": rank + 1,
                "guardrails": applied,
            }
            for rank, item in enumerate(items)
        ]
        if rows:
            self.store.sink.add(rows)
