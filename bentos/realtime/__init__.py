"""The real-time layer of the service: live player state in the Feast online store.

`LiveStateStore.record` takes the lobby's play events (`PlayEvent`), appends them to the raw
event files, updates each player's `UserLiveState` through a Feast push source and reports the
`ThresholdCrossing`s; `state` reads a player back for the recommender.

The store is imported lazily: Feast takes seconds to import, and the event schema and the rules
(`events`, `state`) are useful without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bentos.realtime.events import PlayEvent
from bentos.realtime.state import ThresholdCrossing, UserLiveState

if TYPE_CHECKING:
    from bentos.realtime.store import LiveStateStore, LiveStateUnavailable

__all__ = [
    "LiveStateStore",
    "LiveStateUnavailable",
    "PlayEvent",
    "ThresholdCrossing",
    "UserLiveState",
]


def __getattr__(name: str) -> Any:
    if name in ("LiveStateStore", "LiveStateUnavailable"):
        from bentos.realtime import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
