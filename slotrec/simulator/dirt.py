"""What a real event bus does to clean events: lateness, disorder, and rejectable dirt.

Valid-but-messy rows (late arrivals, rows out of time order) must be accepted downstream.
Rejectable rows are always NEW rows added on top of the clean ones, each with exactly one
defect, so a quarantine can be checked exactly against the per-day manifest: clean rows stay
clean and their count is known. Rows that are each fine but report play twice are planted by
`play_dirt.py`.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from slotrec.core.schema import (
    FUTURE_TOLERANCE_SECONDS,
    MAX_EVENT_DURATION_SECONDS,
    MAX_LATENESS_DAYS,
    REJECT_REASONS,
)
from slotrec.simulator.config import US_PER_DAY, US_PER_SECOND
from slotrec.simulator.sessions import (
    NULL_CODE,
    NULL_TIME,
    UNKNOWN_BASE,
    UNKNOWN_EVENT_TYPE,
    EventBatch,
)

# How often each defect occurs among dirty rows (duplicates dominate on real buses).
DEFECT_WEIGHTS: Final = {
    "duplicate_event": 0.30,
    "null_required_field": 0.10,
    "unknown_event_type": 0.06,
    "negative_duration": 0.08,
    "absurd_duration": 0.06,
    "negative_amount": 0.08,
    "absurd_amount": 0.04,
    "unknown_slot": 0.08,
    "unknown_user": 0.08,
    "future_timestamp": 0.08,
    "too_late": 0.08,
}
_NULLABLE: Final = ("event_key", "user", "slot", "occurred_us", "event_type")
DIRT_KIND: Final = 1  # digit of the event key that marks rows minted by this module


def delay_some(
    batch: EventBatch, rng: np.random.Generator, late_rate: float
) -> tuple[EventBatch, EventBatch]:
    """Split rows into those delivered on time and those delivered the next day.

    Args:
        batch: Rows that occurred on the current day.
        rng: The (day, block) delivery generator.
        late_rate: Chance that a row arrives one day late (0 disables).

    Returns:
        (on time, late).
    """
    late = rng.random(len(batch)) < late_rate
    return batch.take(~late), batch.take(late)


def add_dirt(
    clean: EventBatch,
    rng: np.random.Generator,
    dirt_rate: float,
    day: int,
    block: int,
    day_start_us: int,
) -> tuple[EventBatch, dict[str, int]]:
    """New rejectable rows derived from clean rows, one defect each.

    Args:
        clean: The clean rows of one (delivery day, block).
        rng: The (day, block) dirt generator.
        dirt_rate: Expected dirty rows per clean row.
        day: Delivery day (0-based), part of the fresh event ids.
        block: Player block, part of the fresh event ids.
        day_start_us: Midnight opening the delivery day.

    Returns:
        (dirty rows, count per reject reason). Every reason in REJECT_REASONS is a key.
    """
    counts = dict.fromkeys(REJECT_REASONS, 0)
    n_dirty = int(rng.binomial(len(clean), dirt_rate)) if len(clean) and dirt_rate > 0 else 0
    if n_dirty == 0:
        return EventBatch.empty(), counts
    reasons = np.asarray(list(DEFECT_WEIGHTS))
    weights = np.asarray(list(DEFECT_WEIGHTS.values()))
    reason = rng.choice(len(reasons), size=n_dirty, p=weights / weights.sum())
    rows = clean.take(rng.integers(0, len(clean), size=n_dirty))
    columns = {name: getattr(rows, name).copy() for name in rows.__dataclass_fields__}

    def mask(name: str) -> np.ndarray:
        return reason == int(np.flatnonzero(reasons == name)[0])

    # Every defect but duplication gets a fresh id, so only duplicates repeat an event_id.
    fresh = ~mask("duplicate_event")
    key_base = ((day * 10_000 + block) * 10 + DIRT_KIND) * 10**8
    columns["event_key"][fresh] = key_base + np.arange(int(fresh.sum()))

    nulls = np.flatnonzero(mask("null_required_field"))
    which = rng.integers(0, len(_NULLABLE), size=nulls.size)
    for i, name in enumerate(_NULLABLE):
        columns[name][nulls[which == i]] = NULL_TIME if name == "occurred_us" else NULL_CODE

    columns["event_type"][mask("unknown_event_type")] = UNKNOWN_EVENT_TYPE
    m = mask("negative_duration")
    columns["duration_seconds"][m] = -np.round(rng.uniform(1.0, 3_600.0, m.sum()), 3)
    m = mask("absurd_duration")
    columns["duration_seconds"][m] = np.round(
        MAX_EVENT_DURATION_SECONDS + rng.uniform(3_600.0, 10 * 86_400.0, m.sum())
    )
    m = mask("negative_amount")
    stake = np.abs(columns["bet_amount"][m]) + rng.uniform(0.1, 50.0, m.sum())
    columns["bet_amount"][m] = -np.round(stake, 2)
    # A stake no event can carry (a client's overflow, a unit mix-up): 1e7 up to 1e306, far
    # above the default bound (Settings.max_event_amount, 1e6); not rounded, which would
    # overflow to infinity near the top.
    m = mask("absurd_amount")
    columns["bet_amount"][m] = 10.0 ** rng.uniform(7.0, 306.0, m.sum())
    m = mask("unknown_slot")
    columns["slot"][m] = UNKNOWN_BASE + rng.integers(0, 10**6, m.sum())
    m = mask("unknown_user")
    columns["user"][m] = UNKNOWN_BASE + rng.integers(0, 10**6, m.sum())
    # Clock skew well past the tolerance: up to three days ahead of the delivery day's end.
    m = mask("future_timestamp")
    ahead_s = FUTURE_TOLERANCE_SECONDS + rng.uniform(3_600.0, 3 * 86_400.0, m.sum())
    ahead_us = (ahead_s * US_PER_SECOND).astype(np.int64)
    columns["occurred_us"][m] = day_start_us + US_PER_DAY + ahead_us
    # Replayed from a stale buffer: more than MAX_LATENESS_DAYS whole days before the delivery day.
    m = mask("too_late")
    behind_s = (MAX_LATENESS_DAYS + 1) * 86_400.0 + rng.uniform(0.0, 30 * 86_400.0, m.sum())
    columns["occurred_us"][m] = day_start_us - (behind_s * US_PER_SECOND).astype(np.int64)

    for i, name in enumerate(reasons):
        counts[str(name)] = int((reason == i).sum())
    return EventBatch(**columns), counts


def disorder(batch: EventBatch, rng: np.random.Generator, day_start_us: int) -> EventBatch:
    """Rows roughly in arrival order: time order plus network jitter and a few stragglers.

    Args:
        batch: The rows of one (delivery day, block).
        rng: The (day, block) delivery generator.
        day_start_us: Midnight opening the delivery day (where rows without a time sort).

    Returns:
        The same rows, reordered.
    """
    n = len(batch)
    when = np.where(batch.occurred_us == NULL_TIME, day_start_us, batch.occurred_us)
    jitter_s = rng.exponential(30.0, n)
    straggler = rng.random(n) < 0.01
    jitter_s[straggler] = rng.uniform(0.0, 7_200.0, int(straggler.sum()))
    # Clip keeps far-future dirt from overflowing int64 when jitter is added.
    arrival = np.clip(when, -(2**62), 2**62) + (jitter_s * US_PER_SECOND).astype(np.int64)
    return batch.take(np.argsort(arrival, kind="stable"))
