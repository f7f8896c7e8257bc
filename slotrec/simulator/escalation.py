"""Escalating play: the extra sessions of at-risk players whose play time grows day after day.

A player with an escalation (`PlayerPopulation.escalation_start_day` >= 0) plays, on top of their
ordinary day, ESCALATION_SESSIONS_PER_STEP more sessions on the first escalation day, twice that
on the second, and so on to the end of the simulated window: "rapidly increasing play time over
the last days". These sessions come from their own random stream (Stage.RISK, day, block) and
are laid on the player's one timeline with the ordinary ones (`timeline.schedule`): an
escalating player plays more, never in two sessions at once, and never more than a day holds.
Every other player's events stay exactly as they were.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from slotrec.simulator.affinity import true_affinity
from slotrec.simulator.catalogue import SlotCatalogue
from slotrec.simulator.config import US_PER_SECOND, SimulationConfig
from slotrec.simulator.players import PlayerPopulation
from slotrec.simulator.sessions import (
    _RISK_HOUR_CDF,
    LOBBY_LEAD_SECONDS,
    MAX_SESSION_SECONDS,
    MIN_SESSION_SECONDS,
    TEMPERATURE,
    BlockCandidates,
    block_range,
)
from slotrec.simulator.timeline import ESCALATION, Sessions

ESCALATION_SESSIONS_PER_STEP: Final = 2


def plan_escalation(
    config: SimulationConfig,
    players: PlayerPopulation,
    catalogue: SlotCatalogue,
    candidates: BlockCandidates,
    block: int,
    day: int,
    rng: np.random.Generator,
) -> Sessions:
    """The extra sessions escalating players of a block plan on a day (maybe none).

    Args:
        config: The world's parameters.
        players: The population.
        catalogue: The catalogue.
        candidates: `block_candidates` of this block.
        block: Block number.
        day: Simulated day (0-based).
        rng: The (RISK, day, block) generator; `expand_sessions` goes on drawing from it.

    Returns:
        The sessions (kind ESCALATION), each player's one after another from an hour at-risk
        players keep; `timeline.schedule` fits them around the player's ordinary play.
    """
    lo, hi = block_range(config, block)
    start_day = players.escalation_start_day[lo:hi].astype(np.int64)
    day_start = config.day_start_us(day)
    step = day - start_day + 1  # 1 on the first escalation day
    eligible = (start_day >= 0) & (step >= 1) & (players.registered_us[lo:hi] < day_start)
    player = np.flatnonzero(eligible)
    if player.size == 0:
        return Sessions.empty()
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
    first_start = np.maximum(first_start, day_start + LOBBY_LEAD_SECONDS * US_PER_SECOND)
    gap = LOBBY_LEAD_SECONDS + rng.lognormal(np.log(600.0), 0.5, m)
    step_us = ((seconds + gap) * US_PER_SECOND).astype(np.int64)
    before = np.cumsum(step_us) - step_us
    group_first = np.repeat(np.cumsum(n_sessions) - n_sessions, n_sessions)
    start = first_start.astype(np.int64) + before - before[group_first]
    playable = slot >= 0
    return Sessions.planned(ESCALATION, playable, user, slot, start, seconds, gap)
