"""The real-time layer of the service: live player state in the Feast online store.

`LiveStateStore.record` takes the lobby's play events (`PlayEvent`), appends them to the raw
event files, updates each player's `UserLiveState` through a Feast push source and reports the
`ThresholdCrossing`s; `state` reads a player back for the recommender.
"""

from bentos.realtime.events import PlayEvent
from bentos.realtime.state import ThresholdCrossing, UserLiveState
from bentos.realtime.store import LiveStateStore, LiveStateUnavailable

__all__ = [
    "LiveStateStore",
    "LiveStateUnavailable",
    "PlayEvent",
    "ThresholdCrossing",
    "UserLiveState",
]
