"""A player's live state and the rule that moves it: pure functions, no storage.

`apply_events` is the whole real-time rule set, kept apart from the online store so it can be
read and tested on its own:

- A session start makes its slot the current slot and resets the time on it.
- Heartbeats and session ends add their `duration_seconds` to the current slot's time (and to
  the slot's total in the window); a session end then closes the session.
- A slot enters `played_slots` (most recent first) on a session start or any play-time event.
- When the time on the current slot reaches the threshold, one `ThresholdCrossing` is reported;
  the same session never reports again, a new session (a session start) may.
- An event id already applied (a redelivery) changes nothing; an event from an older session
  that arrives late counts toward the slot's play time but does not disturb the current one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from bentos.realtime.events import PlayEvent

# How many applied events a state remembers to ignore redeliveries: a retry comes within
# seconds, and 64 is an hour of one-minute heartbeats. Kept as 64-bit digests (16 hex digits),
# not the ids themselves: the whole play state is rewritten on every heartbeat, and 256 ids of
# ~40 characters made it 10 KB a player, most of an `events` batch's write (measured).
REMEMBERED_EVENTS = 64


def event_key(event_id: str) -> str:
    """The digest a state remembers an applied event by."""
    return hashlib.blake2b(event_id.encode(), digest_size=8).hexdigest()


@dataclass
class UserLiveState:
    """Everything the service knows about a player since the last daily snapshot.

    Attributes:
        user_id: The player.
        played_slots: Slots played in the live window, most recent first (bounded).
        recent_play_seconds: slot_id -> seconds played in the window (weights of the folded-in
            vector); holds exactly the slots of `played_slots`.
        current_slot: The slot of the ongoing session, None when no session is open.
        current_slot_seconds: Time on the current slot in the ongoing session.
        updated_at: When an event last changed the play state (UTC); None for a new player.
        suggestion: The last kept next-slot suggestion (JSON-able), if any.
        onboarding: Survey answers {"themes": [...], "volatility": [...], "providers": [...]}.
        played_at: slot_id -> when it was last played (UTC), for pruning by age.
        current_session_id: The ongoing (or last closed) session.
        current_started_at: When that session started (UTC).
        crossed_session_id: The session whose threshold crossing was already reported.
        recent_event_keys: `event_key`s of the last applied events, newest last (bounded).
        risk_level: The daily `player_risk` snapshot's level (none, elevated, high), read with
            the live state; None when the player has no snapshot row. Never written by the
            service.
    """

    user_id: str
    played_slots: list[str] = field(default_factory=list)
    recent_play_seconds: dict[str, float] = field(default_factory=dict)
    current_slot: str | None = None
    current_slot_seconds: float = 0.0
    updated_at: datetime | None = None
    suggestion: dict | None = None
    onboarding: dict | None = None
    played_at: dict[str, datetime] = field(default_factory=dict)
    current_session_id: str | None = None
    current_started_at: datetime | None = None
    crossed_session_id: str | None = None
    recent_event_keys: list[str] = field(default_factory=list)
    risk_level: str | None = None

    @property
    def is_empty(self) -> bool:
        """True for a player the live layer has never seen."""
        return self.updated_at is None and self.suggestion is None and self.onboarding is None


@dataclass(frozen=True)
class ThresholdCrossing:
    """A player reached the play-time threshold on a slot with the events just recorded."""

    user_id: str
    slot_id: str
    seconds: float  # time on the slot when the threshold was crossed


@dataclass(frozen=True)
class LiveRules:
    """The parameters of the rule set (from the settings)."""

    threshold_seconds: float = 3600.0
    window: int = 50
    max_age: timedelta = timedelta(hours=48)


def apply_events(
    state: UserLiveState, events: Iterable[PlayEvent], rules: LiveRules, now: datetime
) -> tuple[UserLiveState, list[ThresholdCrossing]]:
    """Apply one player's events, in time order, to a copy of their state.

    Args:
        state: The player's state before the events (left unchanged).
        events: That player's events, any order (they are sorted by `occurred_at`).
        rules: Threshold, window size and maximum age.
        now: The current time (UTC), for pruning and `updated_at`.

    Returns:
        The new state and the threshold crossings these events caused (at most one a session).
    """
    new = replace(
        state,
        played_slots=list(state.played_slots),
        recent_play_seconds=dict(state.recent_play_seconds),
        played_at=dict(state.played_at),
        recent_event_keys=list(state.recent_event_keys),
    )
    seen = set(new.recent_event_keys)
    crossings: list[ThresholdCrossing] = []
    changed = False
    for event in sorted(events, key=lambda e: e.occurred_at):
        key = event_key(event.event_id)
        if key in seen or not event.is_play:
            continue
        seen.add(key)
        new.recent_event_keys.append(key)
        changed = True
        _note_play(new, event)
        if _is_late(new, event):
            continue  # an older session: its time counts above, the current one is untouched
        if event.event_type == "session_start" or _opens_new_session(new, event):
            new.current_slot = event.slot_id
            new.current_session_id = event.session_id
            new.current_started_at = event.occurred_at
            new.current_slot_seconds = 0.0
        new.current_slot_seconds += event.duration_seconds
        if (
            new.current_slot_seconds >= rules.threshold_seconds
            and new.crossed_session_id != new.current_session_id
        ):
            new.crossed_session_id = new.current_session_id
            crossings.append(
                ThresholdCrossing(new.user_id, event.slot_id, new.current_slot_seconds)
            )
        if event.event_type == "session_end":
            new.current_slot = None
            new.current_slot_seconds = 0.0
    if changed:
        del new.recent_event_keys[:-REMEMBERED_EVENTS]
        new.updated_at = now
    prune(new, rules, now)
    return new, crossings


def _note_play(state: UserLiveState, event: PlayEvent) -> None:
    """Add the slot to the played slots (ordered later, by `prune`) with the event's time."""
    slot = event.slot_id
    if slot not in state.played_slots:
        state.played_slots.append(slot)
    state.recent_play_seconds[slot] = state.recent_play_seconds.get(slot, 0.0) + (
        event.duration_seconds
    )
    last = state.played_at.get(slot)
    state.played_at[slot] = event.occurred_at if last is None else max(last, event.occurred_at)


def _is_late(state: UserLiveState, event: PlayEvent) -> bool:
    """An event of a session other than the current one that happened before it started."""
    if event.session_id == state.current_session_id:
        # The current session, after its end: nothing more to track on it.
        return state.current_slot is None and event.event_type != "session_start"
    started = state.current_started_at
    return started is not None and event.occurred_at < started


def _opens_new_session(state: UserLiveState, event: PlayEvent) -> bool:
    """A heartbeat or end of a session never seen starting (its start was lost or is late)."""
    return event.session_id != state.current_session_id or event.slot_id != state.current_slot


def prune(state: UserLiveState, rules: LiveRules, now: datetime) -> None:
    """Order played slots most recent first; keep the `rules.window` newest within `max_age`.

    Works in place. Ordering by when each slot was last played (not by arrival) keeps a late
    event from pushing an old slot to the front.
    """
    oldest = now - rules.max_age
    epoch = datetime.fromtimestamp(0, UTC)
    last_played = {s: state.played_at.get(s, epoch) for s in state.played_slots}
    kept = sorted(
        (s for s in state.played_slots if last_played[s] >= oldest),
        key=lambda s: last_played[s],
        reverse=True,
    )
    kept = kept[: rules.window]
    state.played_slots = kept
    state.recent_play_seconds = {s: state.recent_play_seconds.get(s, 0.0) for s in kept}
    state.played_at = {s: last_played[s] for s in kept}
