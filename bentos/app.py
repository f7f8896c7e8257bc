"""The slotrec service as a plain application object: testable without BentoML.

`SlotrecApp` holds what one worker serves from (`ServingState`: the bundle's snapshot and the
registries it polls), the players' live state (`LiveStateStore`), and the endpoint logic:
`Lists` (recommend, similar), `Play` (events, onboard) and `Admin` (slots, restrictions,
reload). Each endpoint method takes the request model and returns the response model, or raises
one of `bentos.errors`; `bentos.service` is the thin BentoML layer that maps the HTTP endpoints
onto it.
"""

from __future__ import annotations

from bentos import api
from bentos.admin import Admin
from bentos.lists import Lists
from bentos.play import Play
from bentos.realtime.store import LiveStateStore
from bentos.serving_state import ServingState
from slotrec.core.clock import service_clock
from slotrec.core.policies.experiments import load_experiments
from slotrec.core.settings import Settings


class SlotrecApp:
    """One worker's service: its state, the live-state store and every endpoint's logic."""

    def __init__(self, settings: Settings) -> None:
        """Load the promoted bundle, open the live-state store and the registries.

        A missing or unreadable bundle does not stop the app: it answers from popular slots
        (`fallback: true`) and `ready` is False until a `reload` works.
        """
        self.settings = settings
        self.state = ServingState(settings)
        # the wall clock, or the closed-loop demo's simulated one (`slotrec.core.clock`)
        self.clock = service_clock(settings.clock_file)
        self.store = LiveStateStore(settings, clock=self.clock)
        self.lists = Lists(settings, self.state, self.store, load_experiments(settings), self.clock)
        self.play = Play(settings, self.state, self.store, self.lists)
        self.admin = Admin(self.state)

    def recommend(self, request: api.RecommendRequest) -> api.RecommendResponse:
        """A ranked list for a player (see `bentos.lists`)."""
        self.state.poll()
        return self.lists.recommend(request)

    def similar(self, request: api.SimilarRequest) -> api.SimilarResponse:
        """Slots like a slot, optionally for a player (see `bentos.lists`)."""
        self.state.poll()
        return self.lists.similar(request)

    def events(self, request: api.EventsRequest) -> api.EventsResponse:
        """Play events into the live state and the raw files (see `bentos.play`)."""
        self.state.poll()
        return self.play.events(request)

    def onboard(self, request: api.OnboardRequest) -> api.OnboardResponse:
        """A new player's survey answers (see `bentos.play`)."""
        return self.play.onboard(request)

    def slots(self, registration: api.SlotRegistration) -> api.SlotRegistered:
        """Register a game (see `bentos.admin`)."""
        return self.admin.slots(registration)

    def restrictions(self, change: api.RestrictionChange) -> api.RestrictionStatus:
        """Set or lift a restriction (see `bentos.admin`)."""
        return self.admin.restrictions(change)

    def reload(self) -> api.ReloadResponse:
        """Adopt the promoted bundle (see `bentos.admin`)."""
        return self.admin.reload()

    def ready(self) -> bool:
        """A bundle serves and the online store answers (else degraded)."""
        return self.state.snapshot is not None and self.store.healthy()

    def close(self) -> None:
        """Flush the raw sink and stop its thread."""
        self.store.close()
