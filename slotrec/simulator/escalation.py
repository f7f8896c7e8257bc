"""Escalating play: the extra sessions of at-risk players whose play time grows day after day.

A player with an escalation (`PlayerPopulation.escalation_start_day` >= 0) plays, on top of their
ordinary day, ESCALATION_SESSIONS_PER_STEP more sessions on the first escalation day, twice that
on the second, and so on to the end of the simulated window: "rapidly increasing play time over
the last days". These sessions come from their own random stream (Stage.RISK, day, block) and
are appended after the ordinary ones, so every other player's events stay exactly as they were.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from slotrec.simulator.affinity import true_affinity
from slotrec.simulator.catalogue import SlotCatalogue
from slotrec.simulator.config import US_PER_DAY, US_PER_SECOND, SimulationConfig, Stage, derive_rng
from slotrec.simulator.players import PlayerPopulation
from slotrec.simulator.sessions import (
    _RISK_HOUR_CDF,
    LOBBY_LEAD_SECONDS,
    MAX_SESSION_SECONDS,
    MIN_SESSION_SECONDS,
    TEMPERATURE,
    BlockCandidates,
    EventBatch,
    _expand_events,
    block_range,
)

ESCALATION_SESSIONS_PER_STEP: Final = 2
# Digit of the event key marking these rows (ordinary sessions 0, dirt 1), and the offset of
# their session counter (ordinary sessions of one block-day number far fewer).
ESCALATION_KIND: Final = 2
SESSION_COUNTER_OFFSET: Final = 50_000_000


def simulate_escalation(
    config: SimulationConfig,
    players: PlayerPopulation,
    catalogue: SlotCatalogue,
    candidates: BlockCandidates,
    cdf: np.ndarray,
    block: int,
    day: int,
) -> EventBatch:
    """The extra sessions escalating players of a block start on a day (maybe none).

    Args:
        config: The world's parameters.
        players: The population.
        catalogue: The catalogue.
        candidates: `block_candidates` of this block.
        cdf: `lobby_cdf` of this day (lobby tiles of the impressions).
        block: Block number.
        day: Simulated day (0-based).

    Returns:
        The events, in the ordinary session layout (lobby, start, heartbeats, end). Rows past
        midnight are included, as in `simulate_block_day`; on the last day sessions are cut.
    """
    lo, hi = block_range(config, block)
    start_day = players.escalation_start_day[lo:hi].astype(np.int64)
    day_start = config.day_start_us(day)
    day_end = day_start + US_PER_DAY
    step = day - start_day + 1  # 1 on the first escalation day
    eligible = (start_day >= 0) & (step >= 1) & (players.registered_us[lo:hi] < day_start)
    player = np.flatnonzero(eligible)
    if player.size == 0:
        return EventBatch.empty()
    rng = derive_rng(config.seed, Stage.RISK, day, block)
    n_sessions = ESCALATION_SESSIONS_PER_STEP * step[player]
    session_player = np.repeat(player, n_sessions)
    m = int(session_player.size)
    user = lo + session_player

    cand = candidates.slots[session_player]  # [m, k]
    ok = (cand >= 0) & (catalogue.released_us[cand.clip(0)] <= day_start)
    logits = candidates.affinity[session_player] / TEMPERATURE + rng.gumbel(size=cand.shape)
    pick = np.argmax(np.where(ok, logits, -np.inf), axis=1)
    slot = np.where(ok.any(axis=1), cand[np.arange(m), pick], -1)

    affinity = true_affinity(players.truth, catalogue.truth, user, slot.clip(0))
    median = players.median_session_seconds[user] * np.exp(2.5 * (affinity - 0.55))
    seconds = np.ceil(median * rng.lognormal(0.0, 0.9, m))
    seconds = seconds.clip(MIN_SESSION_SECONDS, MAX_SESSION_SECONDS).astype(np.int64)
    # they start at the hours at-risk players keep, late nights included
    hour = (rng.random((player.size, 1)) > _RISK_HOUR_CDF).sum(axis=1).clip(0, 23)
    first_hour = hour + rng.uniform(0.0, 1.0, size=player.size)
    first_start = day_start + (np.repeat(first_hour, n_sessions) * 3600 * US_PER_SECOND)
    gap = LOBBY_LEAD_SECONDS + rng.lognormal(np.log(600.0), 0.5, m)
    step_us = ((seconds + gap) * US_PER_SECOND).astype(np.int64)
    before = np.cumsum(step_us) - step_us
    group_first = np.repeat(np.cumsum(n_sessions) - n_sessions, n_sessions)
    start = first_start.astype(np.int64) + before - before[group_first]
    keep = (slot >= 0) & (start < day_end)
    if day == config.days - 1:  # nothing may spill past the simulated window
        seconds = np.minimum(seconds, (day_end - US_PER_SECOND - start) // US_PER_SECOND)
        keep &= seconds >= MIN_SESSION_SECONDS
    if not keep.any():
        return EventBatch.empty()
    user, slot, start, seconds = (a[keep] for a in (user, slot, start, seconds))
    batch = _expand_events(
        config,
        players,
        catalogue,
        rng,
        cdf,
        block,
        day,
        user,
        players.country[user],
        slot,
        start,
        seconds,
    )
    return EventBatch(
        event_key=batch.event_key + ESCALATION_KIND * 10**8,
        user=batch.user,
        slot=batch.slot,
        session_key=batch.session_key + SESSION_COUNTER_OFFSET,
        event_type=batch.event_type,
        occurred_us=batch.occurred_us,
        duration_seconds=batch.duration_seconds,
        bet_amount=batch.bet_amount,
        win_amount=batch.win_amount,
    )
