"""Truth-based metrics: exact values on hand-made frames, an oracle on a tiny simulated world."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from slotrec.core.settings import DataLayout
from slotrec.simulator import SimulationConfig, simulate_world
from slotrec.simulator.truth import SimulatorTruth, has_truth, id_numbers
from training.truth import (
    true_top_share,
    truth_evaluation,
    truth_metrics,
    truth_ndcg_at_k,
)

# user 0 may be shown items 1..4, user 1 items 1..2 (everything else is already played)
TRUTH = pd.DataFrame(
    [(0, 1, 0.9), (0, 2, 0.5), (0, 3, 0.1), (0, 4, 0.3), (1, 1, 0.2), (1, 2, 0.8)],
    columns=["user_idx", "item_idx", "affinity"],
)
# user 0 gets its two best in the wrong order; user 1 gets the perfect list
RECS = pd.DataFrame(
    [(0, 2, 1), (0, 1, 2), (1, 2, 1), (1, 1, 2)], columns=["user_idx", "item_idx", "rank"]
)


def test_truth_ndcg_hand_computed() -> None:
    d2 = 1 / math.log2(3)
    user0 = (0.5 + 0.9 * d2) / (0.9 + 0.5 * d2)
    assert truth_ndcg_at_k(RECS, TRUTH, 2) == pytest.approx((user0 + 1.0) / 2)
    # at k=1 only the first position counts: 0.5 of an ideal 0.9, and a perfect 1.0
    assert truth_ndcg_at_k(RECS, TRUTH, 1) == pytest.approx((0.5 / 0.9 + 1.0) / 2)


def test_truth_ndcg_limits() -> None:
    worst = pd.DataFrame([(0, 3, 1)], columns=["user_idx", "item_idx", "rank"])
    best = pd.DataFrame([(0, 1, 1)], columns=["user_idx", "item_idx", "rank"])
    assert truth_ndcg_at_k(best, TRUTH, 1) == 1.0
    assert truth_ndcg_at_k(worst, TRUTH, 1) == pytest.approx(0.1 / 0.9)
    # an item outside the candidates (already played) gains nothing
    played = pd.DataFrame([(0, 9, 1)], columns=["user_idx", "item_idx", "rank"])
    assert truth_ndcg_at_k(played, TRUTH, 1) == 0.0
    assert truth_ndcg_at_k(RECS.iloc[:0], TRUTH, 2) == 0.0


def test_true_top_share_hand_computed() -> None:
    # true top-1: item 1 for user 0, item 2 for user 1; each list holds it once in two
    assert true_top_share(RECS, TRUTH, k=2, top_n=1) == pytest.approx(0.5)
    assert true_top_share(RECS, TRUTH, k=2, top_n=2) == 1.0
    # k=1: user 0's first item (2) is not its best, user 1's is
    assert true_top_share(RECS, TRUTH, k=1, top_n=1) == pytest.approx(0.5)
    # ties go to the lower item index: items 5 and 6 tie, so the top-1 is item 5
    tied = pd.DataFrame([(2, 5, 0.4), (2, 6, 0.4)], columns=["user_idx", "item_idx", "affinity"])
    recs = pd.DataFrame([(2, 6, 1)], columns=["user_idx", "item_idx", "rank"])
    assert true_top_share(recs, tied, k=1, top_n=1) == 0.0


def test_truth_metrics_keys() -> None:
    result = truth_metrics(RECS, TRUTH, k=2, top_n=1)
    assert set(result) == {"truth_ndcg2", "true_top1_share2"}
    assert result["true_top1_share2"] == pytest.approx(0.5)


def test_id_numbers() -> None:
    assert id_numbers(["u0000001", "s000012"]).tolist() == [0, 11]
    with pytest.raises(ValueError, match="not a simulator id"):
        id_numbers(["player-7"])


class _Scores:
    """A baseline-shaped model with fixed scores `[n_users, n_items]`."""

    def __init__(self, scores: np.ndarray) -> None:
        self.scores = scores

    def score_all(self, user_idx: np.ndarray) -> np.ndarray:
        return self.scores[user_idx]


def test_oracle_scores_one_on_a_simulated_world(tmp_path: Path) -> None:
    layout = DataLayout(tmp_path)
    assert not has_truth(layout)
    config = SimulationConfig(
        seed=3, n_players=40, n_slots=30, days=1, start_date=date(2026, 1, 1), dirt_rate=0.0
    )
    simulate_world(config, layout)
    assert has_truth(layout)
    # training indices in a shuffled order, so the id → simulator index mapping is exercised
    rng = np.random.default_rng(0)
    user_ids = [f"u{n:07d}" for n in rng.permutation(40) + 1]
    slot_ids = [f"s{n:06d}" for n in rng.permutation(30) + 1]
    truth = SimulatorTruth(layout, user_ids, slot_ids)
    users = np.arange(40)
    affinity = truth.affinity(users)  # [40, 30]
    assert affinity.shape == (40, 30)
    assert ((affinity > 0) & (affinity < 1)).all()
    known = pd.DataFrame({"user_idx": [0, 0, 5], "item_idx": [3, 4, 7]})

    oracle = truth_evaluation(_Scores(affinity), known, users, truth, k=10, top_n=10)
    assert oracle["truth_ndcg10"] == pytest.approx(1.0)
    assert oracle["true_top10_share10"] == 1.0
    assert oracle["users"] == 40
    worst = truth_evaluation(_Scores(-affinity), known, users, truth, k=10, top_n=10)
    assert worst["true_top10_share10"] == 0.0
    assert worst["truth_ndcg10"] < 0.9
