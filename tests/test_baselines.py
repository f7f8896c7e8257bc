"""Baselines on tiny hand-made matrices: EASE's closed form, item-kNN and popularity rankings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.baselines import EASE, ItemKNN, Popularity, interaction_matrix, recency_matrix

# 5 users x 4 items
MATRIX = np.array(
    [
        [1, 1, 0, 0],
        [1, 1, 1, 0],
        [0, 1, 1, 0],
        [1, 0, 0, 1],
        [1, 1, 0, 0],
    ],
    dtype=float,
)


def to_frame(matrix: np.ndarray) -> pd.DataFrame:
    users, items = np.nonzero(matrix)
    return pd.DataFrame({"user_idx": users, "item_idx": items, "weight": 1.0})


def test_interaction_matrix() -> None:
    dense = interaction_matrix(to_frame(MATRIX), 5, 4).toarray()
    np.testing.assert_array_equal(dense, MATRIX)


def test_ease_equals_per_item_ridge_regressions() -> None:
    l2 = 2.0
    model = EASE(l2=l2).fit(to_frame(MATRIX), 5, 4)
    assert model.weights is not None
    # EASE's closed form must equal, column by column, a ridge regression of item j on all the
    # other items (the zero-diagonal constraint made explicit).
    expected = np.zeros((4, 4))
    for j in range(4):
        others = [i for i in range(4) if i != j]
        x = MATRIX[:, others]
        coef = np.linalg.solve(x.T @ x + l2 * np.eye(3), x.T @ MATRIX[:, j])
        expected[others, j] = coef
    np.testing.assert_allclose(model.weights, expected, atol=1e-5)
    np.testing.assert_allclose(model.score_all(np.arange(5)), MATRIX @ expected, atol=1e-5)
    assert np.all(np.diag(model.weights) == 0)


def test_item_knn_ranks_co_played_items_first() -> None:
    model = ItemKNN(k=3).fit(to_frame(MATRIX), 5, 4)
    assert model.similarity is not None
    # cosine(item 0, item 1) = 3 / (sqrt(4) * sqrt(4)) = 0.75
    assert model.similarity[0, 1] == pytest.approx(0.75)
    assert model.similarity[0, 0] == 0.0
    # user 2 played items 1 and 2: item 0 (cosine 0.75 with item 1) beats item 3 (0 with both)
    scores = model.score_all(np.array([2]))[0]
    assert scores[0] > scores[3]
    assert scores[0] == pytest.approx(0.75 + 1 / (2 * np.sqrt(2)))


def test_item_knn_keeps_only_k_neighbours() -> None:
    model = ItemKNN(k=1).fit(to_frame(MATRIX), 5, 4)
    assert model.similarity is not None
    assert ((model.similarity > 0).sum(axis=1) <= 1).all()
    # item 0's single neighbour is item 1 (its most similar item)
    assert model.similarity[0].argmax() == 1


def test_popularity_ranks_by_distinct_users() -> None:
    frame = pd.concat([to_frame(MATRIX), to_frame(MATRIX[:1])])  # a duplicate row counts once
    model = Popularity().fit(frame, 5, 4)
    scores = model.score_all(np.array([0, 3]))
    assert scores.shape == (2, 4)
    np.testing.assert_array_equal(scores[0], [4, 4, 2, 1])
    np.testing.assert_array_equal(scores[0], scores[1])


def test_recency_matrix_weights_each_play_by_its_steps_back() -> None:
    # user 0: item 2 at t=1, item 0 at t=3, item 1 at t=2, item 2 again at t=4; user 1: item 3
    frame = pd.DataFrame(
        {"user_idx": [0, 0, 0, 0, 1], "item_idx": [2, 0, 1, 2, 3], "timestamp": [1, 3, 2, 4, 7]}
    )
    dense = recency_matrix(frame, 3, 4, decay=0.5).toarray()
    # newest first: item 2 (t=4) 1, item 0 (t=3) 0.5, item 1 (t=2) 0.25; the repeat of
    # item 2 keeps its newest weight
    assert dense.tolist() == [[0.5, 0.25, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0], [0.0] * 4]


def test_recency_ease_scores_the_weighted_rows_with_the_plain_weights() -> None:
    frame = to_frame(MATRIX).assign(timestamp=lambda f: np.arange(len(f), dtype=float))
    plain = EASE(l2=1.0).fit(frame, 5, 4)
    recent = EASE(l2=1.0, recency_decay=0.5).fit(frame, 5, 4)
    assert plain.weights is not None and recent.weights is not None
    assert np.allclose(plain.weights, recent.weights)  # B comes from the binary matrix
    weighted = recency_matrix(frame, 5, 4, 0.5).toarray()
    assert np.allclose(recent.score_all(np.arange(5)), weighted @ plain.weights, atol=1e-6)
    # user 1 played items 0, 1, 2 in that order: item 2 counts most, item 0 least
    assert weighted[1, :3].tolist() == [0.25, 0.5, 1.0]


def test_recency_ease_refuses_a_decay_outside_zero_to_one_and_a_log_without_times() -> None:
    with pytest.raises(ValueError, match="recency_decay"):
        EASE(recency_decay=1.5)
    with pytest.raises(ValueError, match="timestamp"):
        EASE(recency_decay=0.5).fit(to_frame(MATRIX), 5, 4)
