"""A seeded, vectorised casino-world simulator: catalogue, players, play events and their truth.

Real slot play logs are not public, so slotrec develops and tests against this world. The
public data it writes follows `slotrec.core.schema`; the hidden truth (tastes, true affinity, the
dirt it injected) lets evaluation and quarantine checks be exact.
"""

from slotrec.simulator.affinity import true_affinity
from slotrec.simulator.config import SimulationConfig
from slotrec.simulator.world import ProgressCallback, SimulationSummary, load_truth, simulate_world

__all__ = [
    "ProgressCallback",
    "SimulationConfig",
    "SimulationSummary",
    "load_truth",
    "simulate_world",
    "true_affinity",
]
