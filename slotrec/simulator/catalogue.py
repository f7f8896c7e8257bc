"""The simulated slot catalogue: public metadata plus each slot's hidden quality and style.

Providers have Zipf-like catalogue sizes and a house style (favourite themes, a typical
volatility), so metadata is correlated the way a real lobby is: a big provider ships many
similar games, and high-volatility games promise bigger max wins and more often sell bonus buys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from slotrec.core.schema import COUNTRIES, SLOT_CATALOGUE_SCHEMA, SLOT_ID, THEMES, VOLATILITY_LEVELS
from slotrec.simulator.config import (
    LATENT_DIM,
    SLOT_ID_DIGITS,
    US_PER_DAY,
    SimulationConfig,
    Stage,
    derive_rng,
)

PROVIDERS: Final = (
    "Aurora Gaming",
    "Blue Ox Studios",
    "Copperline",
    "Dragonfly Play",
    "Emberstone",
    "Foxglove Games",
    "Granite Reels",
    "Harbor Lights",
    "Ironwood",
    "Jadefire",
    "Kestrel Interactive",
    "Lumen Spin",
    "Moonrail",
    "Northstar Reels",
    "Orchid Labs",
    "Pebblebrook",
    "Quartz Works",
    "Redcliff",
    "Silverline",
    "Thunderpeak",
    "Umbra Games",
    "Velvet Fox",
    "Wildgrove",
    "Xylo Studios",
    "Yellowtail Play",
)
# Zipf-like: the biggest provider ships ~10x the games of the 10th.
PROVIDER_WEIGHTS: Final = 1.0 / np.arange(1, len(PROVIDERS) + 1) ** 1.1

_THEME_WORDS: Final = {
    "adventure": ("Lost", "Temple", "Explorer", "Jungle", "Treasure", "Quest", "Relic", "Atlas"),
    "animals": ("Wolf", "Buffalo", "Panda", "Eagle", "Lion", "Rhino", "Safari", "Stampede"),
    "asian": ("Dragon", "Koi", "Lotus", "Jade", "Tiger", "Lantern", "Geisha", "Shogun"),
    "classic_fruit": ("Fruit", "Cherry", "Lucky 7s", "Bar", "Melon", "Sizzling", "Joker", "Bell"),
    "egypt": ("Book", "Pharaoh", "Cleopatra", "Scarab", "Sphinx", "Pyramid", "Anubis", "Nile"),
    "fishing": ("Big Bass", "Reel", "Catch", "Fisherman", "Lake", "Lure", "Tackle", "Splash"),
    "gems": ("Diamond", "Ruby", "Sapphire", "Crystal", "Gem", "Emerald", "Jewel", "Prism"),
    "horror": ("Haunted", "Vampire", "Zombie", "Crypt", "Blood", "Ghost", "Midnight", "Reaper"),
    "irish": ("Leprechaun", "Rainbow", "Shamrock", "Clover", "Pot o'", "Celtic", "Blarney", "Harp"),
    "mythology": ("Zeus", "Olympus", "Thor", "Odin", "Medusa", "Titan", "Valkyrie", "Hades"),
    "space": ("Galaxy", "Cosmic", "Nebula", "Astro", "Rocket", "Star", "Orbit", "Alien"),
    "western": (
        "Wild West",
        "Sheriff",
        "Outlaw",
        "Gold Rush",
        "Saloon",
        "Bounty",
        "Canyon",
        "Dead",
    ),
}
_NAME_TAILS: Final = (
    "Gold", "Riches", "Fortune", "Ways", "Bonanza", "Legends", "Kingdom", "Jackpot",
    "Blitz", "Magic", "Treasures", "Rising", "Frenzy", "Power", "Link", "Hold & Win",
)  # fmt: skip
# Global theme popularity (in THEMES order): classic fruit, egypt and mythology dominate lobbies.
THEME_POPULARITY: Final = np.array([6, 7, 7, 11, 12, 7, 8, 5, 6, 12, 6, 5], dtype=np.float64)
# Share of slots allowed per country (in COUNTRIES order); stricter markets allow fewer games.
_COUNTRY_ALLOW_RATE: Final = np.array([0.9, 0.97, 0.88, 0.75, 0.92, 0.85, 0.85, 0.8])
# Markets that (in this world) mostly refuse games with a bonus buy.
_BONUS_BUY_RESTRICTED: Final = ("GB", "DE")
_MAX_WIN_BASE: Final = np.array([500.0, 2_500.0, 8_000.0, 25_000.0])  # by volatility level
_BONUS_BUY_RATE: Final = np.array([0.08, 0.22, 0.45, 0.65])  # by volatility level


def slot_id_of(slot_idx: int) -> str:
    """The external id of the slot at a catalogue index ("s000001" is index 0)."""
    return f"s{slot_idx + 1:0{SLOT_ID_DIGITS}d}"


def slot_ids(slot_idx: np.ndarray) -> pa.Array:
    """External ids of many slots at once, as a string array."""
    digits = pc.utf8_lpad(pc.cast(pa.array(slot_idx + 1), pa.string()), SLOT_ID_DIGITS, "0")
    return pc.binary_join_element_wise("s", digits, "")


@dataclass(frozen=True)
class SlotTruth:
    """Hidden per-slot facts that drive the true affinity (arrays indexed by slot index)."""

    theme: np.ndarray  # [S] int8, index into THEMES
    volatility: np.ndarray  # [S] int8, index into VOLATILITY_LEVELS
    provider: np.ndarray  # [S] int16, index into PROVIDERS
    quality: np.ndarray  # [S] float32 in [0, 1], long-tailed: a few hits, many also-rans
    latent: np.ndarray  # [S, LATENT_DIM] float32 style vector

    @property
    def n_slots(self) -> int:
        """Number of slots."""
        return int(self.theme.shape[0])

    def to_table(self) -> pa.Table:
        """The truth as written to `<truth_dir>/slots.parquet`, one row per slot."""
        n = self.n_slots
        return pa.table(
            {
                SLOT_ID: slot_ids(np.arange(n)),
                "theme": pa.array(np.asarray(THEMES)[self.theme]),
                "volatility": pa.array(np.asarray(VOLATILITY_LEVELS)[self.volatility]),
                "provider": pa.array(np.asarray(PROVIDERS)[self.provider]),
                "quality": pa.array(self.quality.astype(np.float64)),
                "latent": pa.FixedSizeListArray.from_arrays(
                    pa.array(self.latent.reshape(-1)), LATENT_DIM
                ),
            }
        )

    @classmethod
    def from_table(cls, table: pa.Table) -> SlotTruth:
        """Rebuild from `to_table` output; rows must be in slot-index order."""

        def codes(column: str, levels: tuple[str, ...], dtype: type) -> np.ndarray:
            lookup = {name: i for i, name in enumerate(levels)}
            return np.array([lookup[v] for v in table.column(column).to_pylist()], dtype=dtype)

        latent = table.column("latent").combine_chunks().flatten().to_numpy()
        return cls(
            theme=codes("theme", THEMES, np.int8),
            volatility=codes("volatility", VOLATILITY_LEVELS, np.int8),
            provider=codes("provider", PROVIDERS, np.int16),
            quality=table.column("quality").to_numpy().astype(np.float32),
            latent=latent.astype(np.float32).reshape(-1, LATENT_DIM),
        )


@dataclass(frozen=True)
class SlotCatalogue:
    """Every slot of the world, public metadata and hidden truth, indexed by slot index."""

    truth: SlotTruth
    names: list[str]
    rtp: np.ndarray  # [S] float64
    max_win_multiplier: np.ndarray  # [S] float64
    has_bonus_buy: np.ndarray  # [S] bool
    released_us: np.ndarray  # [S] int64 µs since epoch, UTC
    is_active: np.ndarray  # [S] bool
    allowed: np.ndarray  # [S, len(COUNTRIES)] bool, jurisdictions

    @property
    def n_slots(self) -> int:
        """Number of slots, including those released during the simulation."""
        return self.truth.n_slots

    def to_table(self) -> pa.Table:
        """The public catalogue, exactly `SLOT_CATALOGUE_SCHEMA`."""
        countries = np.asarray(COUNTRIES)
        jurisdictions = [",".join(countries[row]) for row in self.allowed]
        t = self.truth
        return pa.table(
            {
                SLOT_ID: slot_ids(np.arange(self.n_slots)),
                "name": self.names,
                "provider": np.asarray(PROVIDERS)[t.provider].tolist(),
                "theme": np.asarray(THEMES)[t.theme].tolist(),
                "volatility": np.asarray(VOLATILITY_LEVELS)[t.volatility].tolist(),
                "rtp": self.rtp,
                "max_win_multiplier": self.max_win_multiplier,
                "has_bonus_buy": self.has_bonus_buy,
                "released_at": pa.array(self.released_us, type=pa.timestamp("us", tz="UTC")),
                "is_active": self.is_active,
                "jurisdictions": jurisdictions,
            },
            schema=SLOT_CATALOGUE_SCHEMA,
        )


def build_catalogue(config: SimulationConfig) -> SlotCatalogue:
    """Draw the whole catalogue: slots live before day one, then `new_slots_per_day` per day.

    Args:
        config: The world's parameters.

    Returns:
        The catalogue with `config.total_slots` slots; the first `config.n_slots` were released
        before `config.start_date`, slot `n_slots + d * new_slots_per_day + j` on day `d`.
    """
    rng = derive_rng(config.seed, Stage.CATALOGUE)
    n = config.total_slots
    n_providers, n_themes, n_levels = len(PROVIDERS), len(THEMES), len(VOLATILITY_LEVELS)

    # Provider house style: favourite themes on top of global popularity, a typical volatility.
    theme_pop = THEME_POPULARITY / THEME_POPULARITY.sum()
    provider_theme = rng.dirichlet(np.full(n_themes, 0.6), size=n_providers) * 0.6 + theme_pop * 0.4
    provider_vol = rng.uniform(0.3, 2.7, size=n_providers)

    provider = rng.choice(n_providers, size=n, p=PROVIDER_WEIGHTS / PROVIDER_WEIGHTS.sum())
    # Inverse-CDF draw of one theme per slot from its provider's theme mix.
    cdf = np.cumsum(provider_theme[provider], axis=1)  # [S, T]
    theme = (rng.random((n, 1)) * cdf[:, -1:] > cdf).sum(axis=1).clip(0, n_themes - 1)
    volatility = np.rint(provider_vol[provider] + rng.normal(0.0, 0.7, size=n)).clip(
        0, n_levels - 1
    )
    volatility = volatility.astype(np.int8)

    # Long tail: quality = u^2.5 puts most slots low and a handful near 1 (the lobby's hits).
    quality = (rng.random(n) ** 2.5).astype(np.float32)
    latent = rng.standard_normal((n, LATENT_DIM)).astype(np.float32)

    rtp = np.round(np.clip(rng.normal(0.961, 0.008, size=n), 0.94, 0.975), 4)
    max_win = _MAX_WIN_BASE[volatility] * rng.lognormal(0.0, 0.6, size=n)
    max_win = np.maximum(np.round(max_win / 10.0) * 10.0, 50.0)
    has_bonus_buy = rng.random(n) < _BONUS_BUY_RATE[volatility]

    released_us, days_old = _release_times(config, rng)
    # Old games are retired from the lobby more often than recent ones.
    is_active = rng.random(n) >= np.where(days_old > 3 * 365, 0.07, 0.02)
    is_active[config.n_slots :] = True

    allowed = rng.random((n, len(COUNTRIES))) < _COUNTRY_ALLOW_RATE
    for country in _BONUS_BUY_RESTRICTED:
        c = COUNTRIES.index(country)
        allowed[:, c] &= ~has_bonus_buy | (rng.random(n) < 0.1)
    # Every game is licensed somewhere: fall back to the most permissive market.
    allowed[~allowed.any(axis=1), COUNTRIES.index("MT")] = True

    truth = SlotTruth(
        theme=theme.astype(np.int8),
        volatility=volatility,
        provider=provider.astype(np.int16),
        quality=quality,
        latent=latent,
    )
    return SlotCatalogue(
        truth=truth,
        names=_slot_names(theme, rng),
        rtp=rtp,
        max_win_multiplier=max_win,
        has_bonus_buy=has_bonus_buy,
        released_us=released_us,
        is_active=is_active,
        allowed=allowed,
    )


def _release_times(config: SimulationConfig, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Release instants [S] (µs) and age at day one in days [S] (negative for new slots)."""
    start_us = config.day_start_us(0)
    n0, n_new = config.n_slots, config.total_slots - config.n_slots
    # Back catalogue: skewed towards recent years, nothing older than ten years.
    days_old = np.minimum(rng.exponential(700.0, size=n0), 3_650.0) + 1.0
    old_us = start_us - (days_old * US_PER_DAY).astype(np.int64)
    # New games go live during business hours of their release day.
    release_day = np.arange(n_new) // max(config.new_slots_per_day, 1)
    within_day_s = rng.uniform(8 * 3600, 18 * 3600, size=n_new)
    new_us = start_us + release_day * US_PER_DAY + (within_day_s * 1e6).astype(np.int64)
    released_us = np.concatenate([old_us, new_us]).astype(np.int64)
    released_us -= released_us % 1_000_000  # whole seconds, as a CMS would store them
    age_days = np.concatenate([days_old, -release_day.astype(np.float64)])
    return released_us, age_days


def _slot_names(theme: np.ndarray, rng: np.random.Generator) -> list[str]:
    """Unique, theme-flavoured names ("Book of Pharaoh", "Zeus Riches", "Koi Link Deluxe")."""
    n = int(theme.shape[0])
    first: np.ndarray = rng.integers(0, 8, size=n)
    second: np.ndarray = rng.integers(0, 8, size=n)
    tail: np.ndarray = rng.integers(0, len(_NAME_TAILS), size=n)
    pattern: np.ndarray = rng.integers(0, 3, size=n)
    deluxe: np.ndarray = rng.random(size=n) < 0.15
    names: list[str] = []
    seen: dict[str, int] = {}
    # A Python loop over slots (thousands), never over events.
    for i in range(n):
        words = _THEME_WORDS[THEMES[theme[i]]]
        a, b = words[first[i]], words[second[i]]
        if pattern[i] == 0 and a != b:
            name = f"{a} of {b}"
        elif pattern[i] == 1:
            name = f"{a} {_NAME_TAILS[tail[i]]}"
        else:
            name = f"{_NAME_TAILS[tail[i]]} {a}"
        if deluxe[i]:
            name += " Deluxe"
        count = seen.get(name, 0) + 1
        seen[name] = count
        names.append(name if count == 1 else f"{name} {count}")  # sequels: "Zeus Riches 2"
    return names
