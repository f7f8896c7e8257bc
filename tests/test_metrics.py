"""Exact values of the ranking metrics and of the evaluation protocols on hand-made frames."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from training import metrics
from training.evaluate import compare, evaluate_model


def ranks_frame(rows: list[tuple[int, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_idx", "item_idx", "rank"])


PERFECT = ranks_frame([(0, 10, 1), (1, 11, 1), (2, 12, 1)])
MISSED = ranks_frame([(0, 10, 11), (1, 11, 50), (2, 12, 12)])
# user 0 first, user 1 third, user 2 outside the top 10
MIXED = ranks_frame([(0, 10, 1), (1, 11, 3), (2, 12, 11)])


def test_perfect_ranking_scores_one() -> None:
    assert metrics.hit_rate_at_k(PERFECT, 10) == 1.0
    assert metrics.ndcg_at_k(PERFECT, 10) == 1.0
    assert metrics.recall_at_k(PERFECT, 10) == 1.0
    assert metrics.mrr(PERFECT) == 1.0


def test_no_hit_scores_zero() -> None:
    assert metrics.hit_rate_at_k(MISSED, 10) == 0.0
    assert metrics.ndcg_at_k(MISSED, 10) == 0.0
    assert metrics.recall_at_k(MISSED, 10) == 0.0
    assert metrics.mrr(MISSED) == pytest.approx((1 / 11 + 1 / 50 + 1 / 12) / 3)


def test_hand_computed_single_item_values() -> None:
    assert metrics.hit_rate_at_k(MIXED, 10) == pytest.approx(2 / 3)
    # rank 1 → 1, rank 3 → 1/log2(4) = 0.5, rank 11 → 0
    assert metrics.ndcg_at_k(MIXED, 10) == pytest.approx((1 + 0.5 + 0) / 3)
    assert metrics.mrr(MIXED) == pytest.approx((1 + 1 / 3 + 1 / 11) / 3)
    # k = 2 drops the rank-3 hit
    assert metrics.hit_rate_at_k(MIXED, 2) == pytest.approx(1 / 3)
    assert metrics.ndcg_at_k(MIXED, 2) == pytest.approx(1 / 3)


def test_several_held_out_items_per_user() -> None:
    # user 0 holds out three items ranked 2, 5, 40; user 1 one item ranked 1
    ranks = ranks_frame([(0, 1, 2), (0, 2, 5), (0, 3, 40), (1, 4, 1)])
    k = 5
    dcg0 = 1 / math.log2(3) + 1 / math.log2(6)
    idcg0 = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert metrics.ndcg_at_k(ranks, k) == pytest.approx((dcg0 / idcg0 + 1.0) / 2)
    assert metrics.recall_at_k(ranks, k) == pytest.approx((2 / 3 + 1.0) / 2)
    assert metrics.hit_rate_at_k(ranks, k) == 1.0
    assert metrics.mrr(ranks) == pytest.approx((1 / 2 + 1) / 2)


def test_ndcg_per_user_holds_the_values_ndcg_at_k_averages() -> None:
    ranks = ranks_frame([(3, 1, 2), (3, 2, 5), (3, 3, 40), (1, 4, 1), (2, 5, 11)])
    per_user = metrics.ndcg_per_user(ranks, 5)
    dcg3 = 1 / math.log2(3) + 1 / math.log2(6)
    idcg3 = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert per_user.index.tolist() == [1, 2, 3]
    assert per_user.to_numpy() == pytest.approx([1.0, 0.0, dcg3 / idcg3])
    assert per_user.mean() == pytest.approx(metrics.ndcg_at_k(ranks, 5))


def test_ideal_dcg_is_capped_at_k() -> None:
    # five held-out items all in the top 2 positions cannot be: IDCG uses min(n, k) positions
    ranks = ranks_frame([(0, i, i + 1) for i in range(5)])
    assert metrics.ndcg_at_k(ranks, 2) == pytest.approx(1.0)
    assert metrics.recall_at_k(ranks, 2) == pytest.approx(2 / 5)


def test_column_names_are_keyword_arguments() -> None:
    renamed = MIXED.rename(columns={"user_idx": "player", "rank": "position"})
    value = metrics.ndcg_at_k(renamed, 10, col_user="player", col_rank="position")
    assert value == pytest.approx(metrics.ndcg_at_k(MIXED, 10))


def test_empty_frame_scores_zero() -> None:
    empty = ranks_frame([])
    assert metrics.hit_rate_at_k(empty) == 0.0
    assert metrics.ndcg_at_k(empty) == 0.0
    assert metrics.mrr(empty) == 0.0


def test_metrics_by_group() -> None:
    groups = {0: "new", 1: "returning", 2: "returning"}
    out = metrics.metrics_by_group(MIXED, groups, 10)
    assert out["new"]["hr10"] == 1.0
    assert out["returning"]["hr10"] == pytest.approx(0.5)
    assert out["returning"]["ndcg10"] == pytest.approx(0.25)
    assert out["returning"]["users"] == 2


RECS = pd.DataFrame({"user_idx": [0, 0, 1, 1], "item_idx": [0, 1, 0, 2]})
# item 0 played by 4 of 8 users, item 1 by 2, item 2 by 1, item 3 by 1
POPULARITY = np.array([4, 2, 1, 1])


def test_coverage() -> None:
    assert metrics.catalogue_coverage(RECS, 4) == pytest.approx(3 / 4)


def test_novelty_and_popularity_bias() -> None:
    p = np.array([4, 2, 4, 1]) / 8  # shares of the four recommendations
    assert metrics.novelty(RECS, POPULARITY, 8) == pytest.approx(np.mean(-np.log2(p)))
    assert metrics.average_recommendation_popularity(RECS, POPULARITY, 8) == pytest.approx(p.mean())
    # head = the top 25 % of 4 items = item 0; two of four recommendations are outside it
    assert metrics.long_tail_share(RECS, POPULARITY, head_fraction=0.25) == pytest.approx(0.5)


class FixedScores:
    """A model that returns a hand-written score matrix."""

    def __init__(self, scores: np.ndarray) -> None:
        self.scores = np.asarray(scores, dtype=np.float32)

    def score_all(self, user_idx: np.ndarray) -> np.ndarray:
        return self.scores[user_idx]


def frame(pairs: list[tuple[int, int]]) -> pd.DataFrame:
    return pd.DataFrame(pairs, columns=["user_idx", "item_idx"])


def test_full_ranking_masks_played_items_and_counts_ties_against_the_target() -> None:
    scores = np.array(
        [
            [9.0, 8.0, 7.0, 6.0, 5.0],  # user 0 played item 0; test item 2 → rank 2
            [1.0, 5.0, 5.0, 0.0, 2.0],  # user 1 played item 4; test item 1 ties item 2 → rank 2
        ]
    )
    train = frame([(0, 0), (1, 4)])
    test = frame([(0, 2), (1, 1)])
    result = evaluate_model(FixedScores(scores), train, test, 5, protocol="full", k=1)
    assert result["hr1"] == 0.0
    assert result["mrr"] == pytest.approx(0.5)
    result = evaluate_model(FixedScores(scores), train, test, 5, protocol="full", k=2)
    assert result["hr2"] == 1.0
    assert result["ndcg2"] == pytest.approx(1 / math.log2(3))
    # top-2 lists: user 0 → items 1, 2; user 1 → items 1, 2
    assert result["coverage2"] == pytest.approx(2 / 5)


def test_sampled_protocol_is_seeded_and_never_uses_known_items() -> None:
    rng = np.random.default_rng(0)
    n_users, n_items = 30, 60
    scores = rng.random((n_users, n_items))
    train = frame([(u, i) for u in range(n_users) for i in rng.choice(n_items, 10, replace=False)])
    train = train.drop_duplicates()
    test = frame(
        [
            (u, int(np.setdiff1d(np.arange(n_items), train.item_idx[train.user_idx == u])[0]))
            for u in range(n_users)
        ]
    )
    model = FixedScores(scores)
    first = evaluate_model(model, train, test, n_items, protocol="sampled", n_negatives=20, seed=3)
    again = evaluate_model(model, train, test, n_items, protocol="sampled", n_negatives=20, seed=3)
    assert first == again
    # the true item scored above everything: a perfect ranking whatever the negatives are
    boosted = scores.copy()
    boosted[test.user_idx, test.item_idx] = 2.0
    perfect = evaluate_model(
        FixedScores(boosted), train, test, n_items, protocol="sampled", n_negatives=20
    )
    assert perfect["hr10"] == 1.0 and perfect["ndcg10"] == 1.0
    # a played item scored highest must not compete: it is never drawn as a negative
    played = scores.copy()
    played[train.user_idx, train.item_idx] = 3.0
    played[test.user_idx, test.item_idx] = 2.0
    result = evaluate_model(
        FixedScores(played), train, test, n_items, protocol="sampled", n_negatives=20
    )
    assert result["mrr"] == 1.0


def test_groups_in_evaluation() -> None:
    scores = np.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]])
    test = frame([(0, 2), (1, 2)])
    result = evaluate_model(
        FixedScores(scores), frame([]), test, 3, protocol="full", k=1, groups={0: "a", 1: "b"}
    )
    assert result["groups"]["a"]["hr1"] == 1.0
    assert result["groups"]["b"]["hr1"] == 0.0


def test_compare_gives_relative_deltas() -> None:
    out = compare({"neumf": {"ndcg10": 0.3, "users": 10}, "ease": {"ndcg10": 0.25, "users": 10}})
    assert out["ease"]["ndcg10"]["delta"] == pytest.approx(0.05)
    assert out["ease"]["ndcg10"]["relative"] == pytest.approx(0.2)
