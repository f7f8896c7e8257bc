"""The simulator's hidden truth as training's evaluation reads it (`training.truth.TrueAffinity`).

Training never imports the simulator: whoever trains on a simulated world builds this from the
world's `truth/` files and passes it in (the daily run on a simulated data directory, the
closed-loop demo, `slotrec bench quality`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Final

import numpy as np

from slotrec.core.settings import DataLayout
from slotrec.simulator.affinity import true_affinity
from slotrec.simulator.world import load_truth

_ID_NUMBER: Final = re.compile(r"^[a-z]+(\d+)$")


def id_numbers(ids: Sequence[str]) -> np.ndarray:
    """The simulator's index of each external id: "u0000001" → 0, "s000012" → 11.

    Raises:
        ValueError: An id does not have the simulator's prefix-and-number form.
    """
    out = np.empty(len(ids), np.int64)
    for position, value in enumerate(ids):
        match = _ID_NUMBER.match(value)
        if match is None:
            raise ValueError(f"id {value!r} is not a simulator id (letters then digits)")
        out[position] = int(match.group(1)) - 1
    return out


def has_truth(layout: DataLayout) -> bool:
    """Whether a simulated world's truth files are there (real deployments have none)."""
    return all((layout.truth_dir / name).exists() for name in ("players.parquet", "slots.parquet"))


class SimulatorTruth:
    """True affinities of a simulated world, addressed by training's `user_idx` / `item_idx`."""

    def __init__(
        self, layout: DataLayout, user_ids: Sequence[str], slot_ids: Sequence[str]
    ) -> None:
        """Load the hidden tastes and map training indices onto the simulator's.

        Args:
            layout: The simulated world's data layout (its `truth_dir` must hold the truth).
            user_ids: External user id of each `user_idx` (position = index).
            slot_ids: External slot id of each `item_idx`.
        """
        self.players, self.slots = load_truth(layout)
        self.user_numbers = id_numbers(user_ids)
        self.slot_numbers = id_numbers(slot_ids)

    @property
    def n_items(self) -> int:
        """Slots indexed (the columns of `affinity`)."""
        return len(self.slot_numbers)

    def affinity(self, user_idx: np.ndarray) -> np.ndarray:
        """True affinity `[len(user_idx), n_items]` of each user for every indexed slot."""
        users = self.user_numbers[np.asarray(user_idx, np.int64)]
        pairs_u = np.repeat(users, len(self.slot_numbers))  # [b * n_items]
        pairs_s = np.tile(self.slot_numbers, len(users))
        values = true_affinity(self.players, self.slots, pairs_u, pairs_s)
        return values.reshape(len(users), len(self.slot_numbers))


def simulated_truth(
    layout: DataLayout,
) -> Callable[[Sequence[str], Sequence[str]], SimulatorTruth] | None:
    """A builder of the world's true affinities for training's id maps, or None off a simulator.

    For `training.pipeline.run_training(truth=...)`: a real deployment's data directory has no
    `truth/` and gets None, so its runs skip the evaluation against the truth.
    """
    if not has_truth(layout):
        return None
    return lambda user_ids, slot_ids: SimulatorTruth(layout, user_ids, slot_ids)
