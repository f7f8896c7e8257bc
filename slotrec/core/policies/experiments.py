"""A/B experiments: declared in a JSON file, assigned by a deterministic hash of the player.

A variant is a set of strategy parameters (the weight of recent activity against the model
score, the exploration share, the diversity cap). A player's arm is
`sha256("<experiment>:<user_id>")` read as a number in [0, 1) and cut by the variants' weights,
so the same player gets the same arm in every worker, replica and day, with no assignment table.
Every response names the arm, and every served list is logged as impression events with its
`request_id`, so clicks and plays can be attributed to it later.

File format (`SLOTREC_EXPERIMENTS_PATH`, default `slotrec/core/policies/experiments.json`):

    {"experiments": [{"name": "recent-weight-v1", "enabled": true,
                      "variants": [{"name": "control", "weight": 0.5},
                                   {"name": "recent-heavy", "weight": 0.5,
                                    "params": {"recent_weight": 0.6}}]}]}

The first enabled experiment applies; with none, every response says variant "default".
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from slotrec.core.settings import Settings

DEFAULT_PATH = Path(__file__).with_name("experiments.json")


@dataclass(frozen=True)
class Strategy:
    """The knobs a variant may turn."""

    recent_weight: float
    exploration_share: float
    diversity_max_share: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Strategy:
        return cls(
            recent_weight=settings.recent_weight,
            exploration_share=settings.exploration_share,
            diversity_max_share=settings.diversity_max_share,
        )


class StrategyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recent_weight: float | None = Field(default=None, ge=0, le=1)
    exploration_share: float | None = Field(default=None, ge=0, le=0.5)
    diversity_max_share: float | None = Field(default=None, gt=0, le=1)


class Variant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    weight: float = Field(gt=0)
    params: StrategyParams = Field(default_factory=StrategyParams)


class Experiment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    enabled: bool = True
    variants: list[Variant] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_variant_names(self) -> Experiment:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"experiment {self.name}: variant names repeat: {names}")
        return self


class ExperimentsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    experiments: list[Experiment] = Field(default_factory=list)


def load_experiments(settings: Settings) -> list[Experiment]:
    """The enabled experiments of the configured file (an invalid file is a clear error)."""
    path = settings.experiments_path or DEFAULT_PATH
    try:
        parsed = ExperimentsFile.model_validate(json.loads(path.read_text()))
    except (OSError, ValueError) as exc:
        raise ValueError(f"experiments file {path}: {exc}") from exc
    return [e for e in parsed.experiments if e.enabled]


def bucket(salt: str, user_id: str) -> float:
    """A uniform number in [0, 1) fixed by `salt` and the player."""
    digest = hashlib.sha256(f"{salt}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(
    experiments: list[Experiment], user_id: str, base: Strategy
) -> tuple[str | None, str, Strategy]:
    """The player's experiment, variant and the strategy that variant runs."""
    if not experiments:
        return None, "default", base
    experiment = experiments[0]
    point = bucket(experiment.name, user_id) * sum(v.weight for v in experiment.variants)
    chosen = experiment.variants[-1]
    for variant in experiment.variants:
        if point < variant.weight:
            chosen = variant
            break
        point -= variant.weight
    overrides = chosen.params.model_dump(exclude_none=True)
    return experiment.name, chosen.name, replace(base, **overrides)
