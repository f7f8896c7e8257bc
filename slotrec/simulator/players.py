"""The simulated player base: who registers when, from where, how they play and what they like.

A player's segment, risk flag and tastes are hidden: the pipeline only ever sees the registry
(`PLAYER_SCHEMA`), optional onboarding answers and the events their tastes produce.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from slotrec.core.schema import (
    COUNTRIES,
    ONBOARDING_SCHEMA,
    PLAYER_SCHEMA,
    SEGMENTS,
    THEMES,
    USER_ID,
    VOLATILITY_LEVELS,
)
from slotrec.simulator.catalogue import PROVIDER_WEIGHTS, PROVIDERS, THEME_POPULARITY
from slotrec.simulator.config import (
    LATENT_DIM,
    US_PER_DAY,
    US_PER_SECOND,
    USER_ID_DIGITS,
    SimulationConfig,
    Stage,
    derive_rng,
)

# Where players sign up from (in COUNTRIES order: GB MT SE DE CA NL ES IT).
COUNTRY_WEIGHTS: Final = np.array([0.30, 0.04, 0.10, 0.15, 0.12, 0.08, 0.11, 0.10])
# Per segment (casual, regular, high_roller): extra sessions on an active day (Poisson mean),
# median stake per spin, median session length, ideal volatility level (0 = low .. 3 = very high).
_EXTRA_SESSIONS: Final = np.array([0.2, 0.45, 0.9])
_MEDIAN_BET: Final = np.array([0.3, 1.0, 5.0])
_MEDIAN_SESSION_SECONDS: Final = np.array([420.0, 600.0, 780.0])
_IDEAL_VOLATILITY: Final = np.array([1.0, 1.5, 2.2])
# At-risk players are over-represented among heavier segments.
_RISK_WEIGHT: Final = np.array([1.0, 2.0, 3.0])
# Every at-risk player plays long sessions, often late at night; beyond that, a share of them
# chases losses (raises the stake after losing) and a share escalates: their play time grows
# day after day over the last ESCALATION_DAYS simulated days (drawn from their own stream,
# Stage.RISK, so adding these patterns moved no other draw).
CHASE_SHARE: Final = 0.7
ESCALATION_SHARE: Final = 0.5
ESCALATION_DAYS: Final = (3, 5)  # inclusive range of how many final days the escalation lasts
RISK_PATTERNS: Final = ("long_sessions", "late_night", "loss_chasing", "escalating")


def user_id_of(user_idx: int) -> str:
    """The external id of the player at a registry index ("u0000001" is index 0)."""
    return f"u{user_idx + 1:0{USER_ID_DIGITS}d}"


def user_ids(user_idx: np.ndarray) -> pa.Array:
    """External ids of many players at once, as a string array."""
    digits = pc.utf8_lpad(pc.cast(pa.array(user_idx + 1), pa.string()), USER_ID_DIGITS, "0")
    return pc.binary_join_element_wise("u", digits, "")


@dataclass(frozen=True)
class PlayerTruth:
    """Hidden tastes that drive the true affinity (arrays indexed by player index)."""

    theme_pref: np.ndarray  # [U, len(THEMES)] float32, rows sum to 1 (peaked Dirichlet)
    volatility_pref: np.ndarray  # [U] float32, ideal volatility level in [0, 3]
    favourite_providers: np.ndarray  # [U, 2] int16, indices into PROVIDERS
    latent: np.ndarray  # [U, LATENT_DIM] float32 taste vector

    @property
    def n_players(self) -> int:
        """Number of players."""
        return int(self.theme_pref.shape[0])

    def taste_columns(self) -> dict[str, pa.Array]:
        """Taste columns of `<truth_dir>/players.parquet` (one `theme_pref_<theme>` per theme)."""
        providers = np.asarray(PROVIDERS)[self.favourite_providers]  # [U, 2]
        columns: dict[str, pa.Array] = {
            f"theme_pref_{theme}": pa.array(self.theme_pref[:, t].astype(np.float64))
            for t, theme in enumerate(THEMES)
        }
        columns["volatility_pref"] = pa.array(self.volatility_pref.astype(np.float64))
        columns["favourite_providers"] = pa.array(
            np.char.add(np.char.add(providers[:, 0], ","), providers[:, 1])
        )
        columns["latent"] = pa.FixedSizeListArray.from_arrays(
            pa.array(self.latent.reshape(-1)), LATENT_DIM
        )
        return columns

    @classmethod
    def from_table(cls, table: pa.Table) -> PlayerTruth:
        """Rebuild from the truth players table; rows must be in player-index order."""
        theme_pref = np.stack(
            [table.column(f"theme_pref_{theme}").to_numpy() for theme in THEMES], axis=1
        )
        lookup = {name: i for i, name in enumerate(PROVIDERS)}
        favourites = [s.split(",") for s in table.column("favourite_providers").to_pylist()]
        latent = table.column("latent").combine_chunks().flatten().to_numpy()
        return cls(
            theme_pref=theme_pref.astype(np.float32),
            volatility_pref=table.column("volatility_pref").to_numpy().astype(np.float32),
            favourite_providers=np.array(
                [[lookup[a], lookup[b]] for a, b in favourites], dtype=np.int16
            ).reshape(-1, 2),
            latent=latent.astype(np.float32).reshape(-1, LATENT_DIM),
        )


@dataclass(frozen=True)
class PlayerPopulation:
    """Every player of the world (initial and arriving), indexed by player index."""

    truth: PlayerTruth
    segment: np.ndarray  # [U] int8, index into SEGMENTS
    is_at_risk: np.ndarray  # [U] bool
    country: np.ndarray  # [U] int8, index into COUNTRIES
    registered_us: np.ndarray  # [U] int64 µs since epoch, UTC
    daily_play_prob: np.ndarray  # [U] float32, chance of playing on an ordinary day
    extra_sessions: np.ndarray  # [U] float32, Poisson mean of sessions beyond the first
    base_bet: np.ndarray  # [U] float32, stake per spin
    median_session_seconds: np.ndarray  # [U] float32, at affinity 0.55
    chases_losses: np.ndarray  # [U] bool, raises the stake after a losing interval (at-risk only)
    escalation_start_day: np.ndarray  # [U] int16, first simulated day of escalation; -1 = none

    @property
    def n_players(self) -> int:
        """Number of players, including those arriving during the simulation."""
        return int(self.segment.shape[0])

    def to_table(self) -> pa.Table:
        """The public registry, exactly `PLAYER_SCHEMA`."""
        return pa.table(
            {
                USER_ID: user_ids(np.arange(self.n_players)),
                "registered_at": pa.array(self.registered_us, type=pa.timestamp("us", tz="UTC")),
                "country": np.asarray(COUNTRIES)[self.country].tolist(),
            },
            schema=PLAYER_SCHEMA,
        )

    def truth_table(self) -> pa.Table:
        """The hidden truth written to `<truth_dir>/players.parquet`, one row per player."""
        columns: dict[str, pa.Array | list[str]] = {
            USER_ID: user_ids(np.arange(self.n_players)),
            "segment": np.asarray(SEGMENTS)[self.segment].tolist(),
            "is_at_risk": pa.array(self.is_at_risk),
            "risk_patterns": self.risk_patterns(),
            "escalation_start_day": pa.array(self.escalation_start_day.astype(np.int16)),
            "daily_play_prob": pa.array(self.daily_play_prob.astype(np.float64)),
            "base_bet": pa.array(self.base_bet.astype(np.float64)),
        }
        columns.update(self.truth.taste_columns())
        return pa.table(columns)

    def risk_patterns(self) -> list[str]:
        """Each player's risk patterns, comma-separated in RISK_PATTERNS order ("" if none)."""
        shows = np.stack(
            [
                self.is_at_risk,
                self.is_at_risk,
                self.chases_losses,
                self.escalation_start_day >= 0,
            ],
            axis=1,
        )  # [U, len(RISK_PATTERNS)]
        names = np.asarray(RISK_PATTERNS)
        return [",".join(names[row]) for row in shows]


def build_players(config: SimulationConfig) -> PlayerPopulation:
    """Draw every player: `n_players` registered before day one, then arrivals each day.

    Args:
        config: The world's parameters.

    Returns:
        The population with `config.total_players` players; player `n_players + d *
        new_players_per_day + j` registers during simulated day `d`.
    """
    rng = derive_rng(config.seed, Stage.PLAYERS)
    n = config.total_players
    shares = np.array([config.segment_shares[s] for s in SEGMENTS])
    segment = rng.choice(len(SEGMENTS), size=n, p=shares).astype(np.int8)

    risk_weight = _RISK_WEIGHT[segment]
    risk_prob = np.minimum(config.at_risk_share * risk_weight / risk_weight.mean(), 1.0)
    is_at_risk = rng.random(n) < risk_prob

    country = rng.choice(len(COUNTRIES), size=n, p=COUNTRY_WEIGHTS / COUNTRY_WEIGHTS.sum())
    registered_us = _registration_times(config, rng)

    # Peaked Dirichlet: most players love one or two themes; the prior follows lobby popularity.
    alpha = 0.25 * THEME_POPULARITY / THEME_POPULARITY.mean()
    theme_pref = rng.dirichlet(alpha, size=n).astype(np.float32)
    volatility_pref = _IDEAL_VOLATILITY[segment] + 0.7 * is_at_risk + rng.normal(0.0, 0.6, n)
    provider_p = PROVIDER_WEIGHTS / PROVIDER_WEIGHTS.sum()
    favourite_providers = rng.choice(len(PROVIDERS), size=(n, 2), p=provider_p)
    latent = rng.standard_normal((n, LATENT_DIM)).astype(np.float32)

    # Activity heterogeneity within a segment: mean-one gamma propensity.
    rates = np.array([config.daily_active_rate[s] for s in SEGMENTS])
    propensity = rng.gamma(2.0, 0.5, size=n)
    daily_play_prob = np.minimum(rates[segment] * propensity * (1.0 + 0.5 * is_at_risk), 0.95)
    extra_sessions = _EXTRA_SESSIONS[segment] + 0.8 * is_at_risk
    base_bet = _MEDIAN_BET[segment] * rng.lognormal(0.0, 0.6, size=n)
    median_seconds = _MEDIAN_SESSION_SECONDS[segment] * rng.lognormal(0.0, 0.3, size=n)
    median_seconds *= np.where(is_at_risk, 2.2, 1.0)  # at-risk players play much longer

    risk_rng = derive_rng(config.seed, Stage.RISK)
    chases_losses = is_at_risk & (risk_rng.random(n) < CHASE_SHARE)
    escalates = is_at_risk & (risk_rng.random(n) < ESCALATION_SHARE)
    lasts = risk_rng.integers(ESCALATION_DAYS[0], ESCALATION_DAYS[1] + 1, size=n)
    escalation_start_day = np.where(escalates, np.maximum(config.days - lasts, 0), -1)

    truth = PlayerTruth(
        theme_pref=theme_pref,
        volatility_pref=np.clip(volatility_pref, 0.0, 3.0).astype(np.float32),
        favourite_providers=favourite_providers.astype(np.int16),
        latent=latent,
    )
    return PlayerPopulation(
        truth=truth,
        segment=segment,
        is_at_risk=is_at_risk,
        country=country.astype(np.int8),
        registered_us=registered_us,
        daily_play_prob=daily_play_prob.astype(np.float32),
        extra_sessions=extra_sessions.astype(np.float32),
        base_bet=np.round(base_bet, 2).clip(0.1).astype(np.float32),
        median_session_seconds=median_seconds.astype(np.float32),
        chases_losses=chases_losses,
        escalation_start_day=escalation_start_day.astype(np.int16),
    )


def _registration_times(config: SimulationConfig, rng: np.random.Generator) -> np.ndarray:
    """Registration instants [U] (µs, whole seconds)."""
    start_us = config.day_start_us(0)
    n0, n_new = config.n_players, config.total_players - config.n_players
    # Existing base: mostly recent sign-ups, some veterans, nobody older than five years.
    days_old = np.minimum(rng.exponential(400.0, size=n0), 5 * 365.0)
    old_us = start_us - 60 * US_PER_SECOND - (days_old * US_PER_DAY).astype(np.int64)
    day = np.arange(n_new) // max(config.new_players_per_day, 1)
    within_day_s = rng.uniform(0.0, 86_400.0 - 1.0, size=n_new)
    new_us = start_us + day * US_PER_DAY + (within_day_s * US_PER_SECOND).astype(np.int64)
    registered = np.concatenate([old_us, new_us]).astype(np.int64)
    return registered - registered % US_PER_SECOND


def build_onboarding(config: SimulationConfig, players: PlayerPopulation) -> pa.Table:
    """Survey answers of the players who took the onboarding survey.

    Answers follow each player's true tastes with noise (a second-favourite theme named first,
    a volatility one level off), and every preference may be left blank (null).

    Args:
        config: The world's parameters (`onboarding_rate`, seed).
        players: The population the answers describe.

    Returns:
        A table with exactly `ONBOARDING_SCHEMA`, one row per answering player, in id order.
    """
    rng = derive_rng(config.seed, Stage.ONBOARDING)
    n = players.n_players
    answered = np.flatnonzero(rng.random(n) < config.onboarding_rate)
    m = int(answered.size)
    truth = players.truth

    # Themes: sampled without replacement from a noised preference (Gumbel top-k).
    pref = 0.85 * truth.theme_pref[answered] + 0.15 / len(THEMES)  # [m, T]
    keys = np.log(pref) + rng.gumbel(size=pref.shape)
    ranked = np.argsort(-keys, axis=1)  # [m, T]
    n_themes = 1 + rng.binomial(2, 0.4, size=m)
    volatility = np.rint(truth.volatility_pref[answered] + rng.normal(0.0, 0.6, m)).clip(0, 3)
    n_providers = rng.integers(1, 3, size=m)
    blank = rng.random((m, 3)) < np.array([0.15, 0.25, 0.55])  # skip rates per question
    delay_s = rng.lognormal(np.log(300.0), 1.0, size=m).clip(10.0, 86_400.0)

    themes_arr, providers_arr = np.asarray(THEMES), np.asarray(PROVIDERS)
    theme_answers: list[str | None] = []
    provider_answers: list[str | None] = []
    # A loop over answering players (not events): string joins are clearer than char arrays.
    for i in range(m):
        theme_answers.append(
            None if blank[i, 0] else ",".join(themes_arr[ranked[i, : n_themes[i]]])
        )
        favourites = truth.favourite_providers[answered[i], : n_providers[i]]
        provider_answers.append(
            None if blank[i, 2] else ",".join(providers_arr[np.unique(favourites)])
        )
    volatility_answers = [
        None if blank[i, 1] else VOLATILITY_LEVELS[int(v)] for i, v in enumerate(volatility)
    ]
    answered_us = players.registered_us[answered] + (delay_s * US_PER_SECOND).astype(np.int64)
    return pa.table(
        {
            USER_ID: user_ids(answered),
            "answered_at": pa.array(
                answered_us - answered_us % US_PER_SECOND, type=pa.timestamp("us", tz="UTC")
            ),
            "preferred_themes": theme_answers,
            "preferred_volatility": volatility_answers,
            "preferred_providers": provider_answers,
        },
        schema=ONBOARDING_SCHEMA,
    )
