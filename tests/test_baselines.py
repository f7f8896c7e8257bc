"""Baselines on tiny hand-made matrices: EASE's closed form, item-kNN and popularity rankings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.baselines import EASE, ItemKNN, Popularity, interaction_matrix

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
