"""Clean play events for one block of players on one day, fully vectorised.

A day of a player: maybe no visit; otherwise one or more sessions. Each session starts in the
lobby (a few `impression` tiles, one `click`), then `session_start`, a `heartbeat` every
`heartbeat_interval_seconds` carrying the seconds since the previous event and that interval's
stakes and wins, and `session_end` with the remaining seconds. Which slot: mostly a draw from the
player's best true-affinity candidates, sometimes the slot played last (stickiness), sometimes a
featured lobby tile (popular and new games). How long: lognormal, longer for liked slots.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Final

import numpy as np

from slotrec.core.schema import COUNTRIES, EVENT_TYPES
from slotrec.simulator.affinity import affinity_matrix, true_affinity
from slotrec.simulator.catalogue import SlotCatalogue
from slotrec.simulator.config import (
    BLOCK_PLAYERS,
    US_PER_DAY,
    US_PER_SECOND,
    SimulationConfig,
)
from slotrec.simulator.players import PlayerPopulation
from slotrec.simulator.timeline import ORDINARY, Sessions

# Event type codes: the contract's types, then the one unknown type dirt uses.
EVENT_TYPE_NAMES: Final = (*EVENT_TYPES, "spin_bonus")
SESSION_START: Final = EVENT_TYPE_NAMES.index("session_start")
HEARTBEAT: Final = EVENT_TYPE_NAMES.index("heartbeat")
SESSION_END: Final = EVENT_TYPE_NAMES.index("session_end")
CLICK: Final = EVENT_TYPE_NAMES.index("click")
IMPRESSION: Final = EVENT_TYPE_NAMES.index("impression")
UNKNOWN_EVENT_TYPE: Final = EVENT_TYPE_NAMES.index("spin_bonus")

# Null and unknown markers inside the integer columns of an EventBatch.
NULL_CODE: Final = -1
NULL_TIME: Final = np.iinfo(np.int64).min
UNKNOWN_BASE: Final = 10**12  # user/slot codes at or above this are ids the world never issued

# Candidate pool per player (top true affinity among slots they may play) and how sharply the
# choice favours the best of it: exp(affinity / T).
K_CANDIDATES: Final = 64
TEMPERATURE: Final = 0.05
_AFFINITY_ROWS: Final = 32  # players per dense affinity evaluation (keeps temporaries small)
EXPLORE_RATE: Final = 0.08  # sessions started from a featured lobby tile instead
STICK_RATE: Final = 0.3  # sessions that go back to the slot played last
NEW_GAME_DAYS: Final = 14  # the lobby features a game this long after release ...
NEW_GAME_BOOST: Final = 4.0  # ... this many times more often
SECONDS_PER_SPIN: Final = 4.0
MAX_SESSION_SECONDS: Final = 8 * 3600
MIN_SESSION_SECONDS: Final = 20
LOBBY_LEAD_SECONDS: Final = 120  # lobby events happen at most this long before session_start
# Session counters of one kind of session (timeline.ESCALATION) start this far apart, so their
# session ids never meet: ordinary sessions of one block-day number far fewer.
SESSION_COUNTER_STRIDE: Final = 25_000_000
CHASE_FACTOR: Final = 1.3  # at-risk players raise the stake after each losing interval ...
MAX_CHASE_MULTIPLIER: Final = 10.0  # ... up to this multiple of their usual stake
# Gamma shape of the per-interval win/stake ratio (mean 1) by volatility: higher = steadier.
_WIN_SHAPE: Final = np.array([3.0, 1.2, 0.5, 0.25])
# UTC hour-of-day weights: European evenings; at-risk players add late-night play.
_HOURS: Final = np.array(
    [1.0, 0.6, 0.4, 0.3, 0.25, 0.25, 0.4, 0.7, 1.0, 1.2, 1.3, 1.4,
     1.6, 1.6, 1.6, 1.7, 1.9, 2.2, 2.7, 3.2, 3.5, 3.4, 2.8, 1.8]
)  # fmt: skip
_NIGHT: Final = np.array([3.0, 3.5, 3.5, 3.0, 2.5, 1.5] + [0.0] * 17 + [2.0])
_HOUR_CDF: Final = np.cumsum(_HOURS) / _HOURS.sum()
_RISK_HOUR_CDF: Final = np.cumsum(_HOURS + _NIGHT) / (_HOURS + _NIGHT).sum()


@dataclass(frozen=True)
class EventBatch:
    """Raw events as numeric columns, formatted into strings only when written.

    Codes: `user`/`slot` are indices (-1 = null, >= UNKNOWN_BASE = an unknown id), `event_type`
    indexes EVENT_TYPE_NAMES (-1 = null), `occurred_us` is µs since the epoch (NULL_TIME = null),
    `event_key`/`session_key` are unique numbers behind `event_id`/`session_id` (-1 = null).
    """

    event_key: np.ndarray  # [n] int64
    user: np.ndarray  # [n] int64
    slot: np.ndarray  # [n] int64
    session_key: np.ndarray  # [n] int64
    event_type: np.ndarray  # [n] int8
    occurred_us: np.ndarray  # [n] int64
    duration_seconds: np.ndarray  # [n] float64
    bet_amount: np.ndarray  # [n] float64
    win_amount: np.ndarray  # [n] float64

    def __len__(self) -> int:
        return int(self.event_key.shape[0])

    def take(self, index: np.ndarray) -> EventBatch:
        """Rows at `index` (an integer array or a boolean mask)."""
        return EventBatch(*(getattr(self, f.name)[index] for f in fields(self)))

    @classmethod
    def concat(cls, batches: list[EventBatch]) -> EventBatch:
        """Rows of all batches, in order."""
        if not batches:
            return cls.empty()
        return cls(*(np.concatenate([getattr(b, f.name) for b in batches]) for f in fields(cls)))

    @classmethod
    def empty(cls) -> EventBatch:
        """A batch with no rows."""
        dtypes = (np.int64, np.int64, np.int64, np.int64, np.int8, np.int64) + (np.float64,) * 3
        return cls(*(np.empty(0, dtype=d) for d in dtypes))


@dataclass(frozen=True)
class BlockCandidates:
    """Each player's best slots by true affinity, among slots they may ever play."""

    slots: np.ndarray  # [B, k] int64 slot indices, best first; -1 pads short rows
    affinity: np.ndarray  # [B, k] float32, matching `slots` (negative on pads)


def block_range(config: SimulationConfig, block: int) -> tuple[int, int]:
    """Player indices [lo, hi) of a block."""
    lo = block * BLOCK_PLAYERS
    return lo, min(lo + BLOCK_PLAYERS, config.total_players)


def block_candidates(
    config: SimulationConfig,
    players: PlayerPopulation,
    catalogue: SlotCatalogue,
    block: int,
    k: int = K_CANDIDATES,
) -> BlockCandidates:
    """Top-`k` slots by true affinity for every player of a block.

    Only slots the player may ever play (active and allowed in their country) qualify; slots
    released later are included, and masked by release time when sessions are drawn.

    Args:
        config: The world's parameters.
        players: The population.
        catalogue: The catalogue.
        block: Block number.
        k: Candidates per player.

    Returns:
        The candidates, best first.
    """
    lo, hi = block_range(config, block)
    k = min(k, catalogue.n_slots)
    slots = np.empty((hi - lo, k), dtype=np.int64)
    values = np.empty((hi - lo, k), dtype=np.float32)
    # Small row groups keep every temporary in cache and reuse the allocator's memory:
    # fresh multi-MB arrays cost more in page faults than the arithmetic itself.
    # Pushing forbidden slots below zero marks them; permitted values stay exact (x - 0 = x).
    blocked = np.where(catalogue.allowed.T & catalogue.is_active, 0.0, 2.0).astype(np.float32)
    for first in range(lo, hi, _AFFINITY_ROWS):
        rows = slice(first, min(first + _AFFINITY_ROWS, hi))
        out = slice(rows.start - lo, rows.stop - lo)
        affinity = affinity_matrix(players.truth, rows, catalogue.truth)  # [r, S]
        affinity -= blocked[players.country[rows]]  # [C, S] -> [r, S]
        if k < catalogue.n_slots:
            top = np.argpartition(-affinity, k - 1, axis=1)[:, :k]  # [r, k], unordered
        else:
            top = np.broadcast_to(np.arange(k), affinity.shape)
        top_values = np.take_along_axis(affinity, top, axis=1)
        order = np.argsort(-top_values, axis=1, kind="stable")
        slots[out] = np.take_along_axis(top, order, axis=1)
        values[out] = np.take_along_axis(top_values, order, axis=1)
    slots[values < 0] = -1
    return BlockCandidates(slots=slots, affinity=values)


def lobby_cdf(config: SimulationConfig, catalogue: SlotCatalogue, day: int) -> np.ndarray:
    """Cumulative weights of the featured lobby tiles per country on a day.

    Popular (high quality) games and games released in the last NEW_GAME_DAYS are featured;
    only games live at the start of the day, active, and allowed in the country qualify.

    Args:
        config: The world's parameters.
        catalogue: The catalogue.
        day: Simulated day (0-based).

    Returns:
        Cumulative weights [len(COUNTRIES), S]; a row ending in 0 is an empty lobby.
    """
    day_start = config.day_start_us(day)
    age_days = (day_start - catalogue.released_us) / US_PER_DAY  # [S]
    weight = np.exp(3.0 * catalogue.truth.quality.astype(np.float64))
    weight *= np.where(age_days < NEW_GAME_DAYS, NEW_GAME_BOOST, 1.0)
    weight *= (age_days >= 0) & catalogue.is_active
    return np.cumsum(weight[None, :] * catalogue.allowed.T, axis=1)  # [C, S]


def plan_block_day(
    config: SimulationConfig,
    players: PlayerPopulation,
    catalogue: SlotCatalogue,
    candidates: BlockCandidates,
    cdf: np.ndarray,
    block: int,
    day: int,
    last_slot: np.ndarray,
    rng: np.random.Generator,
) -> Sessions:
    """The ordinary sessions a block of players plans to start on a day, one after another.

    Each player's sessions follow each other with a break between them. They are not yet on
    the player's timeline: `timeline.schedule` merges them with other planned play (escalation)
    and with what the player was still playing from the day before.

    Args:
        config: The world's parameters.
        players: The population.
        catalogue: The catalogue.
        candidates: `block_candidates` of this block.
        cdf: `lobby_cdf` of this day.
        block: Block number.
        day: Simulated day (0-based).
        last_slot: [B] slot each player of the block played last (-1 = none).
        rng: The (SESSIONS, day, block) generator; `expand_sessions` goes on drawing from it.

    Returns:
        The sessions (kind ORDINARY), in player order; a player whose country's lobby is empty
        today plans none.
    """
    lo, _ = block_range(config, block)
    # The three steps draw from `rng` in this order; the simulated world depends on it.
    first_start, player, n_sessions = _plan_visits(config, players, block, day, rng)
    session_player = np.repeat(player, n_sessions)  # [m] local player of each session
    if session_player.size == 0:
        return Sessions.empty()
    user = lo + session_player
    session_first = first_start[session_player]  # [m] when the player's first session starts
    slot = _pick_slots(
        catalogue,
        candidates.slots[session_player],
        candidates.affinity[session_player],
        session_first - LOBBY_LEAD_SECONDS * US_PER_SECOND,
        players.country[user],
        last_slot[session_player],
        cdf,
        rng,
    )
    return _lay_out_sessions(players, catalogue, user, slot, session_first, n_sessions, rng)


def _plan_visits(
    config: SimulationConfig,
    players: PlayerPopulation,
    block: int,
    day: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Who of a block plays on a day, how many sessions each, and when the first one starts.

    Args:
        config: The world's parameters.
        players: The population.
        block: Block number.
        day: Simulated day (0-based).
        rng: The (SESSIONS, day, block) generator.

    Returns:
        `(first_start, player, n_sessions)`: `[B]` µs each player of the block would start
        their first session, `[p]` local indices of today's players, `[p]` their sessions.
    """
    lo, hi = block_range(config, block)
    n = hi - lo
    day_start = config.day_start_us(day)
    day_end = day_start + US_PER_DAY
    registered = players.registered_us[lo:hi]
    at_risk = players.is_at_risk[lo:hi]

    # --- who plays today, and when their first session starts -------------------------------
    weekday = (config.start_date.weekday() + day) % 7
    p_play = players.daily_play_prob[lo:hi] * (1.15 if weekday >= 5 else 1.0)
    is_new = registered >= day_start
    p_play = np.where(is_new, 0.8, p_play)  # most sign-ups try a game on their first day
    hour_cdf = np.where(at_risk[:, None], _RISK_HOUR_CDF, _HOUR_CDF)  # [B, 24]
    hour = (rng.random((n, 1)) > hour_cdf).sum(axis=1).clip(0, 23)
    first_start = day_start + ((hour * 3600 + rng.uniform(0, 3600, n)) * US_PER_SECOND)
    first_start = first_start.astype(np.int64)
    after_signup = registered + (
        (LOBBY_LEAD_SECONDS + rng.exponential(900.0, n)) * US_PER_SECOND
    ).astype(np.int64)
    first_start = np.maximum(first_start, after_signup)
    first_start = np.maximum(first_start, day_start + LOBBY_LEAD_SECONDS * US_PER_SECOND)
    active = (rng.random(n) < p_play) & (first_start < day_end)
    extra = np.minimum(rng.poisson(players.extra_sessions[lo:hi]), 7)

    player = np.flatnonzero(active)  # local indices of today's players
    return first_start, player, 1 + extra[player]


def _pick_slots(
    catalogue: SlotCatalogue,
    cand: np.ndarray,
    cand_affinity: np.ndarray,
    live_by: np.ndarray,
    country: np.ndarray,
    previous: np.ndarray,
    cdf: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Which slot each session [m] plays: a liked candidate, a featured tile, or the last slot.

    Args:
        catalogue: The catalogue.
        cand: `[m, k]` the session's player's candidate slots (-1 pads).
        cand_affinity: `[m, k]` their true affinities.
        live_by: `[m]` µs a slot must be released by to be in the lobby for the session.
        country: `[m]` the player's country code.
        previous: `[m]` the slot the player played last (-1 = none).
        cdf: `lobby_cdf` of the day.
        rng: The (SESSIONS, day, block) generator.

    Returns:
        `[m]` slot indices; -1 where the player's country has an empty lobby today.
    """
    # --- which slot ---------------------------------------------------------------------------
    m = int(cand.shape[0])
    ok = (cand >= 0) & (catalogue.released_us[cand.clip(0)] <= live_by[:, None])
    logits = cand_affinity / TEMPERATURE + rng.gumbel(size=cand.shape)
    pick = np.argmax(np.where(ok, logits, -np.inf), axis=1)
    slot = cand[np.arange(m), pick]
    explore = (rng.random(m) < EXPLORE_RATE) | ~ok.any(axis=1)
    slot = np.where(explore, _sample_lobby(rng, cdf, country), slot)
    slot = np.where((previous >= 0) & (rng.random(m) < STICK_RATE), previous, slot)
    return slot


def _lay_out_sessions(
    players: PlayerPopulation,
    catalogue: SlotCatalogue,
    user: np.ndarray,
    slot: np.ndarray,
    session_first: np.ndarray,
    n_sessions: np.ndarray,
    rng: np.random.Generator,
) -> Sessions:
    """How long each session [m] lasts, and when it starts after the player's earlier ones.

    Args:
        players: The population.
        catalogue: The catalogue.
        user: `[m]` player of each session, grouped by player.
        slot: `[m]` slot of each session (-1: nothing to play).
        session_first: `[m]` when the player's first session of the day starts (µs).
        n_sessions: Sessions of each player, in the order `user` groups them.
        rng: The (SESSIONS, day, block) generator.

    Returns:
        The sessions (kind ORDINARY).
    """
    m = int(user.shape[0])
    playable = slot >= 0  # a country whose lobby is empty today has nothing to play

    # --- how long, and when --------------------------------------------------------------------
    affinity = true_affinity(players.truth, catalogue.truth, user, slot.clip(0))
    median = players.median_session_seconds[user] * np.exp(2.5 * (affinity - 0.55))
    seconds = np.ceil(median * rng.lognormal(0.0, 0.9, m))
    seconds = seconds.clip(MIN_SESSION_SECONDS, MAX_SESSION_SECONDS).astype(np.int64)
    gap = LOBBY_LEAD_SECONDS + rng.lognormal(np.log(1_800.0), 0.8, m)
    step = np.where(playable, (seconds + gap) * US_PER_SECOND, 0).astype(np.int64)
    # Sessions of one player follow each other: start = first start + earlier sessions + gaps.
    before = np.cumsum(step) - step
    group_first = np.repeat(np.cumsum(n_sessions) - n_sessions, n_sessions)
    start = session_first + before - before[group_first]
    return Sessions.planned(ORDINARY, playable, user, slot, start, seconds, gap)


def _sample_lobby(rng: np.random.Generator, cdf: np.ndarray, country: np.ndarray) -> np.ndarray:
    """One featured tile per row from its country's lobby [n]; -1 where the lobby is empty."""
    u: np.ndarray = rng.random(size=int(country.shape[0]))
    out = np.full(country.shape[0], -1, dtype=np.int64)
    for c in range(len(COUNTRIES)):  # a loop over countries, not rows
        rows = np.flatnonzero(country == c)
        total = cdf[c, -1]
        if rows.size and total > 0:
            out[rows] = np.searchsorted(cdf[c], u[rows] * total, side="right").clip(
                0, cdf.shape[1] - 1
            )
    return out


def expand_sessions(
    config: SimulationConfig,
    players: PlayerPopulation,
    catalogue: SlotCatalogue,
    rng: np.random.Generator,
    cdf: np.ndarray,
    block: int,
    day: int,
    sessions: Sessions,
) -> EventBatch:
    """The event rows [r] of sessions [m] on the timeline: lobby tiles, click, start, heartbeats,
    end.

    Args:
        config: The world's parameters.
        players: The population.
        catalogue: The catalogue.
        rng: The generator that planned the sessions (its draws go on from there).
        cdf: `lobby_cdf` of the day (the other lobby tiles).
        block: Block number.
        day: Simulated day (0-based).
        sessions: Scheduled sessions of one kind, all of the block and day.

    Returns:
        The events, session by session in the given order; event keys carry the sessions' kind
        digit, and each kind numbers its sessions in a range of its own.
    """
    if len(sessions) == 0:
        return EventBatch.empty()
    kind = int(sessions.kind[0])
    user, slot, seconds = sessions.user, sessions.slot, sessions.seconds
    m = int(user.shape[0])
    interval = config.heartbeat_interval_seconds
    # The helpers below draw from `rng` in this order; the simulated world depends on it.
    n_impressions = 1 + np.minimum(rng.poisson(1.2, m), 5)
    n_heartbeats = (seconds - 1) // interval  # heartbeats fall strictly before the end
    rows = _lay_out_rows(n_impressions, n_heartbeats)
    occurred_us = _occurred_us(rng, rows, sessions.start_us, seconds, interval)
    is_hb = rows.event_type == HEARTBEAT
    is_end = rows.event_type == SESSION_END
    duration = np.zeros(len(rows.session))
    duration[is_hb] = interval
    duration[is_end] = (seconds - n_heartbeats * interval).astype(np.float64)
    row_slot = _row_slots(rng, cdf, rows, slot, players.country[user], n_impressions)
    bet, win = _stakes(players, catalogue, rng, user, slot, rows.session, is_hb | is_end, duration)
    event_key, session_key = _event_keys(day, block, kind, rows.session)
    return EventBatch(
        event_key=event_key,
        user=user[rows.session].astype(np.int64),
        slot=row_slot.astype(np.int64),
        session_key=session_key,
        event_type=rows.event_type,
        occurred_us=occurred_us,
        duration_seconds=duration,
        bet_amount=bet,
        win_amount=win,
    )


@dataclass(frozen=True)
class _SessionRows:
    """Where each event row [r] of a set of sessions sits, and what it is."""

    session: np.ndarray  # [r] index of the row's session
    pos: np.ndarray  # [r] position within its session
    n_imp: np.ndarray  # [r] impressions of the row's session
    event_type: np.ndarray  # [r] int8 code


def _lay_out_rows(n_impressions: np.ndarray, n_heartbeats: np.ndarray) -> _SessionRows:
    """The rows of each session, in order: impressions, click, start, heartbeats, end.

    Args:
        n_impressions: `[m]` lobby tiles each session's player sees.
        n_heartbeats: `[m]` heartbeats of each session.

    Returns:
        The rows of all sessions, session by session.
    """
    rows_per = n_impressions + 3 + n_heartbeats  # impressions, click, start, heartbeats, end
    r = int(rows_per.sum())
    session = np.repeat(np.arange(rows_per.shape[0]), rows_per)  # [r]
    pos = np.arange(r) - np.repeat(np.cumsum(rows_per) - rows_per, rows_per)  # [r] within session
    n_imp = n_impressions[session]

    event_type = np.full(r, HEARTBEAT, dtype=np.int8)
    event_type[pos < n_imp] = IMPRESSION
    event_type[pos == n_imp] = CLICK
    event_type[pos == n_imp + 1] = SESSION_START
    event_type[pos == rows_per[session] - 1] = SESSION_END
    return _SessionRows(session=session, pos=pos, n_imp=n_imp, event_type=event_type)


def _occurred_us(
    rng: np.random.Generator,
    rows: _SessionRows,
    start: np.ndarray,
    seconds: np.ndarray,
    interval: int,
) -> np.ndarray:
    """When each row [r] happens (µs), relative to its session's start.

    Args:
        rng: The generator that planned the sessions.
        rows: The sessions' rows.
        start: `[m]` session start (µs).
        seconds: `[m]` session length.
        interval: Seconds between heartbeats.

    Returns:
        `[r]` µs since the epoch.
    """
    m = int(start.shape[0])
    session, pos, event_type = rows.session, rows.pos, rows.event_type
    # Times: tiles render together before the click, the click a few seconds before the start.
    lobby_lead: np.ndarray = rng.uniform(20.0, 90.0, size=m)
    click_lead: np.ndarray = rng.uniform(2.0, 15.0, size=m)
    t0 = start[session]
    offset_s = np.zeros(len(session))
    offset_s = np.where(event_type == IMPRESSION, -lobby_lead[session] + 0.05 * pos, offset_s)
    offset_s = np.where(event_type == CLICK, -click_lead[session], offset_s)
    offset_s = np.where(event_type == HEARTBEAT, (pos - rows.n_imp - 1) * float(interval), offset_s)
    offset_s = np.where(event_type == SESSION_END, seconds[session].astype(np.float64), offset_s)
    return t0 + np.rint(offset_s * US_PER_SECOND).astype(np.int64)


def _row_slots(
    rng: np.random.Generator,
    cdf: np.ndarray,
    rows: _SessionRows,
    slot: np.ndarray,
    country: np.ndarray,
    n_impressions: np.ndarray,
) -> np.ndarray:
    """The slot of each row [r]: the session's slot, but other featured tiles beside the click.

    Args:
        rng: The generator that planned the sessions.
        cdf: `lobby_cdf` of the day.
        rows: The sessions' rows.
        slot: `[m]` slot each session plays.
        country: `[m]` country code of each session's player.
        n_impressions: `[m]` lobby tiles of each session.

    Returns:
        `[r]` slot indices.
    """
    row_slot = slot[rows.session]
    # Tiles beside the clicked one are other featured games of the player's lobby.
    other_tiles = (rows.event_type == IMPRESSION) & (rows.pos > 0)
    tiles = _sample_lobby(rng, cdf, np.repeat(country, n_impressions - 1))
    row_slot[other_tiles] = np.where(tiles >= 0, tiles, row_slot[other_tiles])
    return row_slot


def _event_keys(
    day: int, block: int, kind: int, session: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The numbers behind `event_id` and `session_id` of each row [r], unique in the world.

    Args:
        day: Simulated day (0-based).
        block: Block number.
        kind: The sessions' kind digit (`timeline.ORDINARY`, `timeline.ESCALATION`).
        session: `[r]` index of each row's session.

    Returns:
        `(event_key, session_key)`, `[r]` int64 each.
    """
    base = (day * 10_000 + block) * 10 + kind
    event_key = base * 10**8 + np.arange(session.shape[0], dtype=np.int64)
    session_key = (
        (day * 10_000 + block) * 10**8 + kind * SESSION_COUNTER_STRIDE + session.astype(np.int64)
    )
    return event_key, session_key


def _stakes(
    players: PlayerPopulation,
    catalogue: SlotCatalogue,
    rng: np.random.Generator,
    user: np.ndarray,
    slot: np.ndarray,
    session: np.ndarray,
    is_play: np.ndarray,
    duration: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Stake and win of each row [r]; non-zero only on heartbeat and session_end rows.

    Wins average stake x RTP with volatility-dependent spread. Loss-chasing (at-risk) players:
    their stake grows by CHASE_FACTOR after every losing interval of the session.
    """
    r = int(session.shape[0])
    rows = np.flatnonzero(is_play)  # play rows are contiguous per session, in time order
    s = session[rows]
    spins = rng.poisson(duration[rows] / SECONDS_PER_SPIN)
    shape = _WIN_SHAPE[catalogue.truth.volatility[slot[s]]]
    ratio = catalogue.rtp[slot[s]] * rng.gamma(shape, 1.0 / shape)
    lost = ratio < 1.0
    log_step = np.where(lost & players.chases_losses[user[s]], np.log(CHASE_FACTOR), 0.0)
    climbed = np.cumsum(log_step) - log_step  # losses before this interval, whole batch
    first = np.r_[0, np.flatnonzero(s[1:] != s[:-1]) + 1]
    climbed -= np.repeat(climbed[first], np.diff(np.r_[first, s.size]))  # ... this session only
    multiplier = np.exp(np.minimum(climbed, np.log(MAX_CHASE_MULTIPLIER)))
    stake = np.round(spins * players.base_bet[user[s]] * multiplier, 2)
    bet, win = np.zeros(r), np.zeros(r)
    bet[rows] = stake
    win[rows] = np.round(stake * ratio, 2)
    return bet, win
