"""Dirt that only shows in play as a whole: rows that are each valid, but not together.

Real exports carry play reported twice: a client that re-sends a heartbeat under a new event
id, a player with a second tab open on the same slot, a second device whose clock runs ahead of
the first re-sending a session. Every row passes the row rules; only the rules on play as a
whole (dbt's int_events_checked: `overlapping_play`, `overlapping_session`) find them. Like the
row dirt in `dirt.py`, these are NEW rows added on top of the clean ones, placed so that only
they break a rule: a clean row stays clean, and the per-day manifest says what to expect.

Play past a day's capacity (`over_day_capacity`) is not planted: on one timeline a player's
play cannot outgrow the day, and any way to outgrow it (parallel tabs on other slots) would
also push some clean play over the line. A hand-made export tests that rule.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

import numpy as np

from slotrec.core.schema import PLAY_OVERLAP_TOLERANCE_SECONDS, REJECT_REASONS
from slotrec.simulator.config import US_PER_SECOND
from slotrec.simulator.sessions import (
    CLICK,
    HEARTBEAT,
    LOBBY_LEAD_SECONDS,
    SESSION_COUNTER_STRIDE,
    SESSION_END,
    SESSION_START,
    EventBatch,
)

# Each kind of incident, the reason its rows are quarantined with, and how often it occurs
# (relative weights; incidents per clean session = the world's dirt_rate).
PLAY_DEFECTS: Final = {
    "double_reported_heartbeat": "overlapping_play",
    "second_tab": "overlapping_session",
    "clock_ahead": "overlapping_session",
}
PLAY_DEFECT_WEIGHTS: Final = {
    "double_reported_heartbeat": 0.5,
    "second_tab": 0.25,
    "clock_ahead": 0.25,
}
# Digit of the event key of rows minted here (ordinary sessions 0, row dirt 1, escalation 2),
# and the session-counter range of the sessions they invent.
PLAY_DIRT_KIND: Final = 3
# A re-sent heartbeat arrives this many seconds after the first (never 0: order must be clear).
RESEND_DELAY_SECONDS: Final = (1.0, 3.0)
# A clock ahead of the first device by this much; less than the shortest break between two
# sessions (LOBBY_LEAD_SECONDS), so the copy never reaches the player's next session.
_MIN_SHIFT: Final = PLAY_OVERLAP_TOLERANCE_SECONDS + 5.0
CLOCK_AHEAD_SECONDS: Final = (_MIN_SHIFT, LOBBY_LEAD_SECONDS - _MIN_SHIFT)
# A session must span this long to be copied (the copy starts inside it by at least _MIN_SHIFT).
MIN_COPIED_SPAN_SECONDS: Final = 60.0


def add_play_dirt(
    clean: EventBatch,
    rng: np.random.Generator,
    dirt_rate: float,
    day: int,
    block: int,
    heartbeat_interval_seconds: int,
) -> tuple[EventBatch, dict[str, int], dict[str, int]]:
    """New rows that report play twice, derived from the clean rows of one delivery.

    Args:
        clean: The clean rows of one (delivery day, block).
        rng: The generator of this (delivery day, block)'s play dirt.
        dirt_rate: Incidents per clean session (the world's dirt rate).
        day: Delivery day (0-based), part of the fresh event and session ids.
        block: Player block, part of the fresh ids.
        heartbeat_interval_seconds: The heartbeat interval of a second tab's session.

    Returns:
        (dirty rows, rows per reject reason with every reason in REJECT_REASONS a key, rows per
        kind of incident in PLAY_DEFECTS).
    """
    counts = dict.fromkeys(REJECT_REASONS, 0)
    planted = dict.fromkeys(PLAY_DEFECTS, 0)
    sessions = _copyable_sessions(clean)
    n_incidents = int(rng.binomial(len(sessions), dirt_rate)) if dirt_rate > 0 else 0
    if n_incidents == 0:
        return EventBatch.empty(), counts, planted
    kinds = list(PLAY_DEFECT_WEIGHTS)
    weights = np.asarray([PLAY_DEFECT_WEIGHTS[k] for k in kinds])
    choice = rng.choice(len(kinds), n_incidents, p=weights / weights.sum())
    drawn = np.bincount(choice, minlength=len(kinds))
    parts = [
        _double_reports(clean, rng, int(drawn[0])),
        _second_tabs(clean, rng, sessions, int(drawn[1]), heartbeat_interval_seconds),
        _clock_ahead_copies(clean, rng, sessions, int(drawn[2])),
    ]
    session_base = (day * 10_000 + block) * 10**8 + PLAY_DIRT_KIND * SESSION_COUNTER_STRIDE
    next_session = 0
    renumbered = []
    for kind, (part, session_of_row) in zip(kinds, parts, strict=True):
        # every invented session (a second tab, a copy) gets an id of its own
        keys = part.session_key
        if session_of_row is not None and len(part):
            _, local = np.unique(session_of_row, return_inverse=True)
            keys = session_base + next_session + local
            next_session += int(local.max()) + 1
        renumbered.append(replace(part, session_key=keys))
        planted[kind] = len(part)
        counts[PLAY_DEFECTS[kind]] += len(part)
    dirty = EventBatch.concat(renumbered)
    key_base = ((day * 10_000 + block) * 10 + PLAY_DIRT_KIND) * 10**8
    dirty = replace(dirty, event_key=key_base + np.arange(len(dirty), dtype=np.int64))
    return dirty, counts, planted


def _copyable_sessions(clean: EventBatch) -> np.ndarray:
    """Session keys with a start and a heartbeat in this delivery, spanning long enough."""
    play = np.isin(clean.event_type, (SESSION_START, HEARTBEAT, SESSION_END))
    if not play.any():
        return np.empty(0, dtype=np.int64)
    keys, first, last = _span_by_session(clean, play)
    starts = np.unique(clean.session_key[clean.event_type == SESSION_START])
    beats = np.unique(clean.session_key[clean.event_type == HEARTBEAT])
    long_enough = (last - first) >= MIN_COPIED_SPAN_SECONDS * US_PER_SECOND
    return keys[long_enough & np.isin(keys, starts) & np.isin(keys, beats)]


def _span_by_session(
    clean: EventBatch, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(session keys, earliest and latest occurred_us of their `rows`), keys sorted."""
    keys, inverse = np.unique(clean.session_key[rows], return_inverse=True)
    when = clean.occurred_us[rows]
    first = np.full(keys.size, np.iinfo(np.int64).max)
    last = np.full(keys.size, np.iinfo(np.int64).min)
    np.minimum.at(first, inverse, when)
    np.maximum.at(last, inverse, when)
    return keys, first, last


def _double_reports(clean: EventBatch, rng: np.random.Generator, n: int) -> tuple[EventBatch, None]:
    """Heartbeats sent again a second or three later, under a new event id.

    The copy claims the same stretch of play as the original, so it starts long before the
    original's time; the next event of the session starts at most the delay before the copy,
    within the tolerance, so only the copy breaks `overlapping_play`.
    """
    beats = np.flatnonzero(
        (clean.event_type == HEARTBEAT)
        & (clean.duration_seconds > 2 * PLAY_OVERLAP_TOLERANCE_SECONDS + RESEND_DELAY_SECONDS[1])
    )
    n = min(n, beats.size)
    if n == 0:
        return EventBatch.empty(), None
    rows = clean.take(rng.choice(beats, size=n, replace=False))
    delay = rng.uniform(*RESEND_DELAY_SECONDS, size=n)
    return _shifted(rows, delay), None


def _clock_ahead_copies(
    clean: EventBatch, rng: np.random.Generator, sessions: np.ndarray, n: int
) -> tuple[EventBatch, np.ndarray | None]:
    """Whole sessions (click and play) re-sent by a second device whose clock runs ahead.

    The copy starts inside the original on the same slot (`overlapping_session`) and ends at
    most CLOCK_AHEAD_SECONDS after it, before the player can have started another session.
    """
    n = min(n, sessions.size)
    if n == 0:
        return EventBatch.empty(), None
    chosen = rng.choice(sessions, size=n, replace=False)
    is_session_row = np.isin(clean.session_key, chosen) & np.isin(
        clean.event_type, (CLICK, SESSION_START, HEARTBEAT, SESSION_END)
    )
    rows = clean.take(is_session_row)
    keys, first, last = _span_by_session(rows, rows.event_type != CLICK)
    span_s = (last - first) / US_PER_SECOND
    ahead = rng.uniform(CLOCK_AHEAD_SECONDS[0], np.minimum(CLOCK_AHEAD_SECONDS[1], span_s / 2))
    shift = ahead[np.searchsorted(keys, rows.session_key)]
    return _shifted(rows, shift), rows.session_key


def _second_tabs(
    clean: EventBatch,
    rng: np.random.Generator,
    sessions: np.ndarray,
    n: int,
    interval: int,
) -> tuple[EventBatch, np.ndarray | None]:
    """A second session on the same slot, opened inside a clean one and closed before it ends."""
    n = min(n, sessions.size)
    if n == 0:
        return EventBatch.empty(), None
    chosen = np.sort(rng.choice(sessions, size=n, replace=False))
    play = np.isin(clean.event_type, (SESSION_START, HEARTBEAT, SESSION_END))
    play &= np.isin(clean.session_key, chosen)
    keys, first, last = _span_by_session(clean, play)
    span_s = (last - first) / US_PER_SECOND
    opens_after = rng.uniform(_MIN_SHIFT, span_s / 2)
    seconds = np.floor(rng.uniform(20.0, span_s - opens_after - 1.0)).astype(np.int64)
    # stake per second of the original session
    row_session = np.searchsorted(keys, clean.session_key[play])
    bet = np.bincount(row_session, clean.bet_amount[play], minlength=keys.size)
    played = np.bincount(row_session, clean.duration_seconds[play], minlength=keys.size)
    stake_per_second = bet / np.maximum(played, 1.0)
    any_row = np.flatnonzero(play)[np.unique(row_session, return_index=True)[1]]
    user, slot = clean.user[any_row], clean.slot[any_row]

    beats = (seconds - 1) // interval  # heartbeats strictly before the end
    per = beats + 3  # click, start, heartbeats, end
    r = int(per.sum())
    tab = np.repeat(np.arange(n), per)
    pos = np.arange(r) - np.repeat(np.cumsum(per) - per, per)
    start_us = first + (opens_after * US_PER_SECOND).astype(np.int64)
    event_type = np.full(r, HEARTBEAT, dtype=np.int8)
    event_type[pos == 0] = CLICK
    event_type[pos == 1] = SESSION_START
    event_type[pos == per[tab] - 1] = SESSION_END
    offset_s = np.where(event_type == HEARTBEAT, (pos - 1) * float(interval), 0.0)
    offset_s = np.where(event_type == CLICK, -rng.uniform(2.0, 15.0, r), offset_s)
    offset_s = np.where(event_type == SESSION_END, seconds[tab].astype(np.float64), offset_s)
    duration = np.where(event_type == HEARTBEAT, float(interval), 0.0)
    duration = np.where(
        event_type == SESSION_END, (seconds - beats * interval)[tab].astype(np.float64), duration
    )
    stake = np.round(duration * stake_per_second[tab], 2)
    rows = EventBatch(
        event_key=np.zeros(r, dtype=np.int64),
        user=user[tab],
        slot=slot[tab],
        session_key=keys[tab],
        event_type=event_type,
        occurred_us=start_us[tab] + np.rint(offset_s * US_PER_SECOND).astype(np.int64),
        duration_seconds=duration,
        bet_amount=stake,
        win_amount=np.round(stake * rng.uniform(0.0, 2.0, r), 2),
    )
    return rows, keys[tab]


def _shifted(rows: EventBatch, seconds: np.ndarray) -> EventBatch:
    """The rows, happening `seconds` later."""
    shift = np.rint(seconds * US_PER_SECOND).astype(np.int64)
    return replace(rows, occurred_us=rows.occurred_us + shift)
