"""The retrain's evaluation: NeuMF's lead over each baseline comes with a paired interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.pipeline import evaluate_all
from training.splits import ITEM, USER, Split

N_USERS, N_ITEMS = 60, 30


class FixedScores:
    """A stand-in model: a fixed `[n_users, n_items]` score table."""

    def __init__(self, scores: np.ndarray) -> None:
        self.scores = scores

    def score_all(self, user_idx: np.ndarray) -> np.ndarray:
        return self.scores[user_idx]


def _split() -> tuple[Split, np.ndarray]:
    rng = np.random.default_rng(3)
    items = np.stack([rng.permutation(N_ITEMS)[:5] for _ in range(N_USERS)])  # [users, 5]
    users = np.arange(N_USERS)

    def frame(columns: slice) -> pd.DataFrame:
        part = items[:, columns]
        return pd.DataFrame({USER: np.repeat(users, part.shape[1]), ITEM: part.ravel()})

    split = Split(frame(slice(0, 3)), frame(slice(3, 4)), frame(slice(4, 5)), N_USERS, N_ITEMS)
    return split, items


def _models(items: np.ndarray) -> dict[str, FixedScores]:
    rng = np.random.default_rng(4)
    noise = rng.random((N_USERS, N_ITEMS))
    knows = noise.copy()
    # the "NeuMF" here ranks each user's validation item first and their test item second
    # (first once the validation item is masked, as it is for the test)
    knows[np.arange(N_USERS), items[:, 3]] += 2.0
    knows[np.arange(N_USERS), items[:, 4]] += 1.0
    return {"neumf": FixedScores(knows), "popularity": FixedScores(noise)}


def test_the_lead_over_a_baseline_has_an_interval_and_a_p_value() -> None:
    split, items = _split()
    result = evaluate_all(_models(items), split)

    for part in ("validation", "test_full"):
        row = result["comparison"][part]["popularity"]["ndcg10"]
        # the informed model ranks every held-out item first: NDCG@10 of 1 for every user
        assert row["reference"] == pytest.approx(1.0)
        assert row["delta"] == pytest.approx(1.0 - row["baseline"])
        low, high = row["ci95"]
        assert 0.0 < low <= row["delta"] <= high
        assert row["p_value"] < 0.001
    # the per-user values stay out of the stored metrics
    assert "per_user_ndcg10" not in result["test"]["full"]["neumf"]
