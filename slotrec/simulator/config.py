"""The knobs of one simulated casino world.

Everything the simulator draws is a function of this object: the same config (seed included)
always produces the same catalogue, players, events, dirt and ground truth.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import IntEnum
from typing import Final

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from slotrec.core.schema import SEGMENTS

# Players are simulated in fixed blocks; every random draw is keyed by (seed, day, block), so the
# output does not depend on how many blocks a chunk holds (chunking only sets memory and file size).
BLOCK_PLAYERS: Final = 4096
# Width of the hidden taste/style vectors shared by players and slots.
LATENT_DIM: Final = 8
# Id widths: "u0000001" and "s000001" (see DataLayout users of these ids).
USER_ID_DIGITS: Final = 7
SLOT_ID_DIGITS: Final = 6
US_PER_SECOND: Final = 1_000_000
US_PER_DAY: Final = 86_400 * US_PER_SECOND


class Stage(IntEnum):
    """Independent random streams; adding a draw to one stage never shifts another."""

    CATALOGUE = 1
    PLAYERS = 2
    ONBOARDING = 3
    SESSIONS = 4
    DELIVERY = 5
    DIRT = 6
    RISK = 7  # which risk patterns an at-risk player shows, and their escalating sessions
    PLAY_DIRT = 8  # play reported twice (re-sent heartbeats, second tabs, clocks ahead)


def derive_rng(seed: int, stage: Stage, *keys: int) -> np.random.Generator:
    """A generator keyed by (seed, stage, keys...), e.g. (seed, SESSIONS, day, block).

    Keying by block rather than drawing from one long stream is what makes the output
    independent of chunk size and lets any (day, block) be regenerated on its own.
    """
    return np.random.default_rng([seed, int(stage), *keys])


def _default_segment_shares() -> dict[str, float]:
    return {"casual": 0.72, "regular": 0.23, "high_roller": 0.05}


def _default_daily_active_rate() -> dict[str, float]:
    # Tuned with the session and heartbeat model so that 100k players x 30 days ≈ 10M events.
    return {"casual": 0.12, "regular": 0.35, "high_roller": 0.55}


class SimulationConfig(BaseModel):
    """Parameters of a simulated world; immutable and validated on construction.

    Invalid values raise `pydantic.ValidationError`, whose message names the field and the rule
    (for example ``days: Input should be greater than or equal to 1``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = Field(default=42, ge=0, description="Root seed of every random draw.")
    n_players: int = Field(default=2_000, ge=1, description="Players registered before day one.")
    n_slots: int = Field(default=200, ge=1, description="Slots released before day one.")
    days: int = Field(default=7, ge=1, le=999, description="Number of simulated UTC days.")
    start_date: date = Field(default=date(2025, 1, 1), description="First simulated UTC day.")
    new_players_per_day: int = Field(default=20, ge=0, description="Registrations per day.")
    new_slots_per_day: int = Field(default=1, ge=0, description="Slot releases per day.")
    segment_shares: dict[str, float] = Field(
        default_factory=_default_segment_shares,
        description="Share of players in each hidden segment (sums to 1).",
    )
    daily_active_rate: dict[str, float] = Field(
        default_factory=_default_daily_active_rate,
        description="Probability that a player of the segment plays on a given day.",
    )
    heartbeat_interval_seconds: int = Field(default=300, ge=10, le=3_600)
    dirt_rate: float = Field(
        default=0.02, ge=0.0, le=0.5, description="Rejectable rows per clean row; 0 = clean."
    )
    late_rate: float = Field(
        default=0.01, ge=0.0, le=0.5, description="Share of valid rows delivered a day late."
    )
    chunk_players: int = Field(
        default=65_536,
        ge=1,
        description="Players per streamed chunk (one parquet file per chunk and day); rounded up "
        f"to whole blocks of {BLOCK_PLAYERS}.",
    )
    at_risk_share: float = Field(
        default=0.03,
        ge=0.0,
        le=1.0,
        description="Share of players with risky play patterns (long, late-night sessions; "
        "most also chase losses, some escalate their play time over the last days). The truth "
        "file `players.parquet` flags them (`is_at_risk`) and names their `risk_patterns`.",
    )
    onboarding_rate: float = Field(
        default=0.35, ge=0.0, le=1.0, description="Share of players who answer onboarding."
    )

    @field_validator("segment_shares", "daily_active_rate")
    @classmethod
    def _covers_every_segment(cls, value: dict[str, float]) -> dict[str, float]:
        if set(value) != set(SEGMENTS):
            raise ValueError(f"keys must be exactly {list(SEGMENTS)}, got {sorted(value)}")
        bad = {k: v for k, v in value.items() if not 0.0 <= v <= 1.0}
        if bad:
            raise ValueError(f"values must lie in [0, 1], got {bad}")
        return {segment: float(value[segment]) for segment in SEGMENTS}

    @model_validator(mode="after")
    def _shares_sum_to_one(self) -> SimulationConfig:
        total = sum(self.segment_shares.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"segment_shares must sum to 1, got {total:.6f}")
        if self.total_players >= 10**USER_ID_DIGITS:
            raise ValueError(
                f"n_players + new_players_per_day * days must be < {10**USER_ID_DIGITS:,} "
                f"(user ids have {USER_ID_DIGITS} digits), got {self.total_players:,}"
            )
        if self.total_slots >= 10**SLOT_ID_DIGITS:
            raise ValueError(
                f"n_slots + new_slots_per_day * days must be < {10**SLOT_ID_DIGITS:,} "
                f"(slot ids have {SLOT_ID_DIGITS} digits), got {self.total_slots:,}"
            )
        return self

    # --- derived sizes ----------------------------------------------------------------------
    @property
    def total_players(self) -> int:
        """Players that exist by the end of the simulation (initial plus arrivals)."""
        return self.n_players + self.new_players_per_day * self.days

    @property
    def total_slots(self) -> int:
        """Slots in the catalogue by the end of the simulation (initial plus releases)."""
        return self.n_slots + self.new_slots_per_day * self.days

    @property
    def n_blocks(self) -> int:
        """Number of fixed-size player blocks covering every player."""
        return -(-self.total_players // BLOCK_PLAYERS)

    @property
    def blocks_per_chunk(self) -> int:
        """Blocks streamed together (one output file per chunk and delivery day)."""
        return max(1, -(-self.chunk_players // BLOCK_PLAYERS))

    @property
    def n_chunks(self) -> int:
        """Number of streamed chunks."""
        return -(-self.n_blocks // self.blocks_per_chunk)

    @property
    def start_at(self) -> datetime:
        """Midnight UTC that opens the first simulated day."""
        return datetime(
            self.start_date.year, self.start_date.month, self.start_date.day, tzinfo=UTC
        )

    @property
    def day_list(self) -> list[date]:
        """The simulated (and delivered) UTC days, in order."""
        return [self.start_date + timedelta(days=d) for d in range(self.days)]

    def day_start_us(self, day: int) -> int:
        """Midnight UTC opening simulated day `day` (0-based), in µs since the epoch."""
        return int(self.start_at.timestamp()) * US_PER_SECOND + day * US_PER_DAY
