"""A player's day on one timeline: sessions never overlap, and none outlasts the day it is in.

Sessions are planned by independent streams (ordinary play in `sessions.py`, escalating at-risk
play in `escalation.py`), each sequential on its own. Laid side by side they would overlap: a
player in two sessions at once, or playing one slot for more than 24 hours in a day (the
simulator once did exactly that, and the warehouse's day-capacity guard stopped whole days).
`schedule` merges them into one timeline per player: each session starts at its planned time
or, if the player is still busy then, as soon as the session before it (and the break after it)
has ended; the first session of a day also waits for what the player was still playing from the
day before. A session pushed past midnight does not happen, so a day can never hold more play
than it has hours.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Final

import numpy as np

from slotrec.simulator.config import US_PER_DAY, US_PER_SECOND

# Session kinds, also the event-key digit that marks their rows (dirt rows are kind 1).
ORDINARY: Final = 0
ESCALATION: Final = 2
# Segmented running maximum: each player's values are lifted above every earlier player's by
# this much, more than any spread inside one player's values (a few days of µs).
_GROUP_LIFT_US: Final = 1_000 * US_PER_DAY


@dataclass(frozen=True)
class Sessions:
    """Planned sessions, one entry each, before they become events."""

    user: np.ndarray  # [m] int64 player index
    slot: np.ndarray  # [m] int64 slot index
    start_us: np.ndarray  # [m] int64 µs since the epoch
    seconds: np.ndarray  # [m] int64 play time
    gap_seconds: np.ndarray  # [m] float64 break after the session before the next can start
    kind: np.ndarray  # [m] int8, ORDINARY or ESCALATION

    def __len__(self) -> int:
        return int(self.user.shape[0])

    @property
    def end_us(self) -> np.ndarray:
        """When each session ends [m]."""
        return self.start_us + self.seconds * US_PER_SECOND

    def take(self, index: np.ndarray) -> Sessions:
        """Entries at `index` (an integer array or a boolean mask)."""
        return Sessions(*(getattr(self, f.name)[index] for f in fields(self)))

    @classmethod
    def concat(cls, parts: list[Sessions]) -> Sessions:
        """Entries of all parts, in order."""
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))

    @classmethod
    def planned(
        cls,
        kind: int,
        keep: np.ndarray,
        user: np.ndarray,
        slot: np.ndarray,
        start_us: np.ndarray,
        seconds: np.ndarray,
        gap_seconds: np.ndarray,
    ) -> Sessions:
        """Sessions of one kind from a planner's arrays [m], those where `keep` is true."""
        return cls(
            user=user[keep].astype(np.int64),
            slot=slot[keep].astype(np.int64),
            start_us=start_us[keep].astype(np.int64),
            seconds=seconds[keep].astype(np.int64),
            gap_seconds=gap_seconds[keep].astype(np.float64),
            kind=np.full(int(keep.sum()), kind, dtype=np.int8),
        )

    @classmethod
    def empty(cls) -> Sessions:
        """No sessions."""
        dtypes = (np.int64, np.int64, np.int64, np.int64, np.float64, np.int8)
        return cls(*(np.empty(0, dtype=d) for d in dtypes))


def schedule(sessions: Sessions, free_from_us: np.ndarray, first_user: int) -> Sessions:
    """One non-overlapping timeline per player, in time order.

    For a player's sessions in planned order, start'_i = max(start_i, start'_{i-1} + seconds_{i-1}
    + gap_{i-1}), and no earlier than `free_from_us`. With D_i the summed seconds and gaps before
    session i, this is D_i + max_{j <= i}(start_j - D_j): one running maximum per player.

    Args:
        sessions: Planned sessions of players `first_user ..`, in any order.
        free_from_us: [B] per player of the block, the earliest moment a new session may start
            (the end of the last session already played, plus its break).
        first_user: Player index of `free_from_us[0]`.

    Returns:
        The same sessions, ordered by player then start, with starts moved where needed.
    """
    if len(sessions) == 0:
        return sessions
    ordered = sessions.take(np.lexsort((sessions.start_us, sessions.user)))
    local = ordered.user - first_user
    start = np.maximum(ordered.start_us, free_from_us[local])
    step = ((ordered.seconds + ordered.gap_seconds) * US_PER_SECOND).astype(np.int64)
    before = np.cumsum(step) - step
    first = np.r_[0, np.flatnonzero(np.diff(ordered.user)) + 1]
    group = np.repeat(np.arange(first.size), np.diff(np.r_[first, start.size]))
    before -= before[first][group]  # D_i within the player's own sessions
    origin = start.min()
    lifted = (start - before - origin) + group * _GROUP_LIFT_US
    running = np.maximum.accumulate(lifted) - group * _GROUP_LIFT_US + origin
    return Sessions(
        user=ordered.user,
        slot=ordered.slot,
        start_us=before + running,
        seconds=ordered.seconds,
        gap_seconds=ordered.gap_seconds,
        kind=ordered.kind,
    )


def cut_at(sessions: Sessions, end_us: int, min_seconds: int) -> Sessions:
    """Sessions shortened to end by `end_us`; those left shorter than `min_seconds` dropped."""
    seconds = np.minimum(sessions.seconds, (end_us - sessions.start_us) // US_PER_SECOND)
    cut = Sessions(
        sessions.user, sessions.slot, sessions.start_us, seconds, sessions.gap_seconds,
        sessions.kind,
    )  # fmt: skip
    return cut.take(cut.seconds >= min_seconds)


def free_from(sessions: Sessions, free_from_us: np.ndarray, first_user: int) -> np.ndarray:
    """`free_from_us` moved past the sessions just played (a scheduled timeline).

    Args:
        sessions: Output of `schedule` (after any cut), ordered by player then start.
        free_from_us: [B] the previous values, per player of the block.
        first_user: Player index of `free_from_us[0]`.

    Returns:
        [B] a new array: the end of each player's last session plus its break, where later.
    """
    out = free_from_us.copy()
    if len(sessions):
        last = np.flatnonzero(np.r_[sessions.user[1:] != sessions.user[:-1], True])
        ready = sessions.end_us[last] + (sessions.gap_seconds[last] * US_PER_SECOND).astype(
            np.int64
        )
        local = sessions.user[last] - first_user
        out[local] = np.maximum(out[local], ready)
    return out
