"""A world where only the order of plays tells what comes next, for the sequence-order tests.

Players walk a ring of items: item i is always followed by item i + 1. A player's plays are a
run of consecutive items, so the two unplayed neighbours at its ends look alike to any model
that ignores order; only the last play says which one comes next.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

# A NeuMF small and quick enough to learn the ring in a few seconds on one thread.
SMALL_NEUMF: dict[str, Any] = {
    "gmf_dim": 8,
    "mlp_dim": 8,
    "layers": (16, 8),
    "batch_size": 512,
    "epochs": 25,
    "patience": 0,
    "lr": 0.01,
    "embedding_lr": 0.1,
}


def ring_plays(users: int, items: int, plays: int, seed: int) -> pd.DataFrame:
    """Canonical interactions: each user plays `plays` consecutive ring items, timestamps 0.."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(users):
        start = int(rng.integers(items))
        rows += [(user, (start + step) % items, step) for step in range(plays)]
    frame = pd.DataFrame(rows, columns=["user_idx", "item_idx", "timestamp"]).assign(weight=1.0)
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # rows out of order
