"""The slotrec HTTP service: what a casino lobby calls, on BentoML.

`bentoml serve bentos.service:SlotrecService` (or `slotrec serve`) starts it. Endpoints (all
POST, JSON; the OpenAPI page at `/` documents them): `recommend`, `similar`, `events`, `onboard`,
`slots`, `restrictions` and `reload` (admin), `noop` (the benchmark's ceiling), plus BentoML's
`/livez`, `/readyz` and `/metrics`.

This class is the thin HTTP layer: each endpoint times itself, pins the native thread pools of
the thread serving it (`bentos.native_threads`), calls the plain application object
(`bentos.app.SlotrecApp`, where the logic lives and is tested without BentoML) and maps its
`bentos.errors` onto HTTP statuses. The bundle is not referenced at class level (as a built
Bento would carry it) on purpose: which bundle serves is decided at run time by
`models/promoted.json`, so a promotion or rollback needs a reload, not a rebuild.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from typing import TypeVar

import bentoml

from bentos import api, bentoml_patches, metrics
from bentos.app import SlotrecApp
from bentos.errors import Conflict, EndpointError, NotFound, Unavailable
from bentos.guard import RequestGuard
from bentos.native_threads import pin_this_thread
from slotrec import __version__
from slotrec.core.settings import Settings, get_settings

# Before BentoML builds the app (see the module for what and why).
bentoml_patches.apply()

API_PATHS = frozenset(
    {"/recommend", "/similar", "/events", "/onboard", "/slots", "/restrictions", "/reload", "/noop"}
)
T = TypeVar("T")


@contextmanager
def _timed(endpoint: str) -> Iterator[None]:
    """Time an endpoint call, in the thread that serves it, with native pools at one thread."""
    pin_this_thread()
    started = time.perf_counter()
    try:
        yield
    finally:
        metrics.LATENCY.labels(endpoint=endpoint).observe(time.perf_counter() - started)


def _answer(endpoint: str, call: Callable[[], T]) -> T:
    """Run an endpoint's logic, timed, with its `bentos.errors` as BentoML's HTTP errors.

    A 5xx would have its message replaced by BentoML's generic one, so an unavailable online
    store is a 503 without detail, and a refused reload a 409 whose reason the operator reads.
    """
    with _timed(endpoint):
        try:
            return call()
        except NotFound as exc:
            raise bentoml.exceptions.NotFound(str(exc)) from None
        except Unavailable as exc:
            raise bentoml.exceptions.ServiceUnavailable(str(exc)) from exc
        except Conflict as exc:
            raise bentoml.exceptions.BentoMLException(
                str(exc), error_code=HTTPStatus.CONFLICT
            ) from None
        except EndpointError as exc:  # a new kind of outcome must not become a 500
            raise bentoml.exceptions.BentoMLException(
                str(exc), error_code=HTTPStatus.UNPROCESSABLE_ENTITY
            ) from None


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
        """Start the application: its bundle, live-state store and registries."""
        pin_this_thread()  # loading runs here; every request thread pins itself
        self.app = SlotrecApp(settings or get_settings())

    def __is_ready__(self) -> bool:
        """Ready when a bundle serves and the online store answers (else: degraded, 503)."""
        return self.app.ready()

    @bentoml.on_shutdown
    def _shutdown(self) -> None:
        self.app.close()

    @bentoml.api
    def recommend(self, request: api.RecommendRequest, /) -> api.RecommendResponse:
        """Rank k slots for a player: FAISS candidates → rules → NeuMF → explore → diversify."""
        return _answer("recommend", lambda: self.app.recommend(request))

    @bentoml.api
    def similar(self, request: api.SimilarRequest, /) -> api.SimilarResponse:
        """Slots like a given slot (FAISS), re-ranked for a player when `user_id` is given."""
        return _answer("similar", lambda: self.app.similar(request))

    @bentoml.api
    def events(self, request: api.EventsRequest, /) -> api.EventsResponse:
        """Record play events; answer with a fresh suggestion for each threshold crossing."""
        return _answer("events", lambda: self.app.events(request))

    @bentoml.api
    def onboard(self, request: api.OnboardRequest, /) -> api.OnboardResponse:
        """Save a new player's survey answers; they steer the player's cold-start lists."""
        return _answer("onboard", lambda: self.app.onboard(request))

    @bentoml.api
    def slots(self, registration: api.SlotRegistration, /) -> api.SlotRegistered:
        """Register a new or changed game (admin): live in every worker's index in seconds."""
        return _answer("slots", lambda: self.app.slots(registration))

    @bentoml.api
    def restrictions(self, change: api.RestrictionChange, /) -> api.RestrictionStatus:
        """Set or lift a player's self-exclusion or cooling-off (admin): in force at once."""
        return _answer("restrictions", lambda: self.app.restrictions(change))

    @bentoml.api
    def reload(self) -> api.ReloadResponse:
        """Adopt the promoted bundle (admin); every other worker follows within a poll."""
        return _answer("reload", self.app.reload)

    @bentoml.api
    def noop(self) -> dict[str, bool]:
        """Does nothing: the benchmark's ceiling for this server on this machine."""
        return {"ok": True}


# BentoML's decorator returns a Service object that mypy cannot see through.
SlotrecService.add_asgi_middleware(  # type: ignore[attr-defined]
    RequestGuard, settings_factory=get_settings, api_paths=API_PATHS
)
bentoml_patches.describe_openapi(
    SlotrecService,
    title="slotrec",
    version=__version__,
    description=(
        "Slot recommendations for an online-casino lobby: ranked lists for a player "
        "(`recommend`), slots like a slot (`similar`), the real-time play layer (`events`), "
        "cold-start answers (`onboard`), and the admin endpoints that register games, restrict "
        "players and adopt a new bundle. Every body is JSON; a body that breaks the schema is "
        "answered 422 with the field and the rule."
    ),
)
