"""The play side of the service: `events` (the real-time layer) and `onboard`.

`events` appends every event to the raw files and applies the play events to each player's live
state (`bentos.realtime`); a player who crosses the play-time threshold gets a next-slot
suggestion, or a take-a-break message at a guarded risk level, and a restricted player neither
(their plays are still recorded). `onboard` keeps a new player's survey answers in the live
state, where the cold-start lists read them.
"""

from __future__ import annotations

import logging

from bentos import api, metrics
from bentos.errors import Unavailable
from bentos.lists import Lists, count_guardrails
from bentos.realtime.events import refuse_absurd_amounts
from bentos.realtime.state import ThresholdCrossing
from bentos.realtime.store import LiveStateStore, LiveStateUnavailable
from bentos.serving_state import ServingState
from slotrec.core.policies.guardrails import REALITY_CHECK, reality_check_message, risk_policy
from slotrec.core.settings import Settings

log = logging.getLogger(__name__)


class Play:
    """`events` and `onboard` of one worker."""

    def __init__(
        self, settings: Settings, state: ServingState, store: LiveStateStore, lists: Lists
    ) -> None:
        self.settings = settings
        self.state = state
        self.store = store
        self.lists = lists

    def events(self, request: api.EventsRequest) -> api.EventsResponse:
        """Record play events; answer with a fresh suggestion for each threshold crossing.

        Raises:
            pydantic.ValidationError: a bet or win above `max_event_amount` (a 422 naming it).
        """
        refuse_absurd_amounts(list(request.events), self.settings.max_event_amount)
        pools = self.state.pools
        registered = pools.exploring | pools.graduated | pools.retired
        new_game_plays = [
            e.slot_id
            for e in request.events
            if e.event_type == "session_start" and e.slot_id in registered
        ]
        if new_game_plays:
            self.state.registry.count_plays(new_game_plays)
        try:
            crossings = self.store.record(list(request.events))
        except LiveStateUnavailable as exc:
            log.warning("events kept in the raw files only: %s", exc)
            metrics.REQUESTS.labels(endpoint="events", outcome="degraded").inc()
            return api.EventsResponse(accepted=len(request.events), degraded=True)
        # plays of a restricted player are recorded (the raw log stays complete), but the
        # threshold makes no suggestion for them
        withheld = sorted(
            {c.user_id for c in crossings if self.state.restricted(c.user_id, "events")}
        )
        suggestions: list[api.Suggestion] = []
        reality_checks: list[api.RealityCheck] = []
        for c in crossings:
            if c.user_id in withheld:
                continue
            check = self._reality_check(c)
            if check is not None:
                reality_checks.append(check)
            elif (s := self.lists.suggest(c)) is not None:
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
            level = self.store.state(crossing.user_id).risk_level
        except LiveStateUnavailable:
            return None
        risk = risk_policy(level, self.settings)
        if risk is None:
            return None
        count_guardrails([REALITY_CHECK], "events")
        return api.RealityCheck(
            user_id=crossing.user_id,
            message=reality_check_message(self.settings, crossing.seconds),
            minutes_played=round(crossing.seconds / 60.0, 1),
            after_slot_id=crossing.slot_id,
            risk_level=risk.level,
        )

    def onboard(self, request: api.OnboardRequest) -> api.OnboardResponse:
        """Save a new player's survey answers; they steer the player's cold-start lists.

        Raises:
            Unavailable: the online store could not save them.
        """
        snapshot = self.state.snapshot
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
            raise Unavailable(f"onboarding answers could not be saved: {exc}") from exc
        metrics.REQUESTS.labels(endpoint="onboard", outcome="ok").inc()
        return api.OnboardResponse(
            user_id=request.user_id,
            saved=True,
            ignored_providers=ignored,
            restricted=self.state.restricted(request.user_id, "onboard"),
        )
