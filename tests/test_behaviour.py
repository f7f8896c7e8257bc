"""Behavioural model test: tastes in, matching slots out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from training.splits import ITEM, TIME, USER, WEIGHT
from training.trainer import TrainConfig, train_model

# 40 slots: 0-9 high-volatility fishing, 10-19 low-volatility fruit, 20-39 assorted others
FISHING_HIGH = np.arange(0, 10)
FRUIT_LOW = np.arange(10, 20)
OTHERS = np.arange(20, 40)


def _plays(seed: int = 0) -> pd.DataFrame:
    """120 players: half only play high-volatility fishing slots, half only low fruit ones."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(120):
        liked = FISHING_HIGH if user % 2 == 0 else FRUIT_LOW
        for item in rng.choice(liked, 6, replace=False):
            rows.append((user, int(item)))
        rows.append((user, int(rng.choice(OTHERS))))  # a little noise
    frame = pd.DataFrame(rows, columns=[USER, ITEM])
    frame[TIME] = np.arange(len(frame))
    frame[WEIGHT] = 1.0
    return frame


def test_a_fishing_high_volatility_player_gets_fishing_high_volatility_slots_first():
    plays = _plays()
    config = TrainConfig(epochs=30, patience=0, batch_size=512, seed=1, gmf_dim=16, mlp_dim=16)
    result = train_model("neumf", plays, None, config, n_users=120, n_items=40)
    model = result.model
    with torch.no_grad():
        scores = model.score_all(torch.tensor([0, 1])).numpy()  # [2, 40]
    for user, liked in ((0, FISHING_HIGH), (1, FRUIT_LOW)):
        played = set(plays.loc[plays[USER] == user, ITEM])
        ranking = [i for i in np.argsort(-scores[user]) if i not in played]
        assert set(ranking[:3]) <= set(liked), (user, ranking[:5])
