"""Non-neural baselines that NeuMF has to beat: popularity, item-kNN and EASE.

All three share the interface the evaluation relies on: `fit(train, n_users, n_items)` on a
canonical interactions frame, then `score_all(user_idx) -> [batch, n_items]` numpy scores
(higher is better; the evaluation masks already-played items itself).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp

from training.splits import ITEM, TIME, USER, WEIGHT, time_order_key


class Recommender(Protocol):
    """What `training.evaluate` needs from a model that is not a torch module."""

    def score_all(self, user_idx: np.ndarray) -> np.ndarray:
        """Scores `[len(user_idx), n_items]` for every item."""
        ...


def interaction_matrix(
    train: pd.DataFrame, n_users: int, n_items: int, *, use_weight: bool = False
) -> sp.csr_matrix:
    """The user × item matrix `[n_users, n_items]` (binary, or the `weight` column).

    Args:
        train: Canonical interactions frame.
        n_users: Number of rows.
        n_items: Number of columns.
        use_weight: Fill with `weight` instead of 1.

    Returns:
        CSR matrix, float32; duplicate pairs are summed.
    """
    values = train[WEIGHT].to_numpy(np.float32) if use_weight else np.ones(len(train), np.float32)
    matrix = sp.csr_matrix(
        (values, (train[USER].to_numpy(), train[ITEM].to_numpy())), shape=(n_users, n_items)
    )
    matrix.sum_duplicates()
    return matrix


def recency_matrix(train: pd.DataFrame, n_users: int, n_items: int, decay: float) -> sp.csr_matrix:
    """The user × item matrix weighted by recency: `decay ** s` for the play `s` steps before
    the user's newest (ties in time by row order); a repeated pair keeps its newest weight."""
    if TIME not in train:
        raise ValueError(f"recency weighting needs a {TIME!r} column in the interactions")
    users = train[USER].to_numpy(np.int64)
    rows = np.arange(len(train))
    order = np.lexsort((-rows, -time_order_key(train[TIME]), users))  # newest first per user
    users = users[order]
    starts = np.searchsorted(users, np.arange(n_users))
    back = np.arange(len(users)) - starts[users]  # 0 for each user's newest play
    frame = pd.DataFrame(
        {USER: users, ITEM: train[ITEM].to_numpy(np.int64)[order], "w": decay**back}
    ).drop_duplicates([USER, ITEM])  # keeps the first, i.e. newest, of a repeated pair
    return sp.csr_matrix(
        (frame["w"].to_numpy(np.float32), (frame[USER].to_numpy(), frame[ITEM].to_numpy())),
        shape=(n_users, n_items),
    )


class Popularity:
    """Recommend what most users played: the floor every personalised model must clear."""

    def __init__(self) -> None:
        self.counts: np.ndarray | None = None  # [n_items] distinct users per item

    def fit(self, train: pd.DataFrame, n_users: int, n_items: int) -> Popularity:
        """Count distinct users per item."""
        pairs = train[[USER, ITEM]].drop_duplicates()
        self.counts = np.bincount(pairs[ITEM].to_numpy(), minlength=n_items).astype(np.float32)
        return self

    def score_all(self, user_idx: np.ndarray) -> np.ndarray:
        """The same popularity row for every user, `[batch, n_items]`."""
        assert self.counts is not None, "fit first"
        return np.broadcast_to(self.counts, (len(user_idx), len(self.counts))).copy()


class ItemKNN:
    """Item-based kNN: cosine similarity between item columns, top-`k` neighbours per item."""

    def __init__(self, k: int = 50, shrink: float = 0.0) -> None:
        """Configure the neighbourhood.

        Args:
            k: Neighbours kept per item (the rest of its similarity row is zeroed).
            shrink: Added to the cosine denominator; damps similarities built on few users.
        """
        self.k = k
        self.shrink = shrink
        self.matrix: sp.csr_matrix | None = None  # [n_users, n_items]
        self.similarity: np.ndarray | None = None  # [n_items, n_items], row j = neighbours of j

    def fit(self, train: pd.DataFrame, n_users: int, n_items: int) -> ItemKNN:
        """Build the pruned item-item cosine similarity."""
        self.matrix = interaction_matrix(train, n_users, n_items)
        co = (self.matrix.T @ self.matrix).toarray().astype(np.float64)  # [n_items, n_items]
        norms = np.sqrt(np.diag(co))
        sim = co / (np.outer(norms, norms) + self.shrink + 1e-12)
        np.fill_diagonal(sim, 0.0)
        if self.k < n_items:
            # keep the k most similar items of each row, zero the rest
            drop = np.argpartition(-sim, self.k, axis=1)[:, self.k :]
            np.put_along_axis(sim, drop, 0.0, axis=1)
        self.similarity = sim.astype(np.float32)
        return self

    def score_all(self, user_idx: np.ndarray) -> np.ndarray:
        """Sum of similarities to each user's played items, `[batch, n_items]`."""
        assert self.matrix is not None and self.similarity is not None, "fit first"
        history = self.matrix[np.asarray(user_idx)]  # [batch, n_items] sparse
        # score(u, j) = sum over played i of sim(j, i): neighbours of the candidate j
        return np.asarray(history @ self.similarity.T)


class EASE:
    """EASE (Steck, 2019): a closed-form item-item linear model with a zero diagonal.

    With `recency_decay` a user's row is weighted by recency when scoring (the newest play 1,
    each one before it `recency_decay` times less); `B` is fitted on the plain binary matrix
    as usual. That is the order-aware reference for a NeuMF trained in the sequence order.
    """

    def __init__(self, l2: float = 300.0, recency_decay: float | None = None) -> None:
        """Configure the ridge penalty and the optional recency weighting.

        Args:
            l2: λ of the ridge term; a few hundred suits MovieLens-100K-sized data.
            recency_decay: Weight per step back in a user's time-ordered plays when scoring;
                None scores with the binary row. Needs a `timestamp` column.
        """
        if recency_decay is not None and not 0.0 < recency_decay <= 1.0:
            raise ValueError(f"recency_decay must be in (0, 1], got {recency_decay}")
        self.l2 = l2
        self.recency_decay = recency_decay
        self.matrix: sp.csr_matrix | None = None  # [n_users, n_items] the rows scored
        self.weights: np.ndarray | None = None  # [n_items, n_items] B, zero diagonal

    def fit(self, train: pd.DataFrame, n_users: int, n_items: int) -> EASE:
        """Solve `B = I - P · diagMat(1 / diag(P))`, with `P = (XᵀX + λI)⁻¹`."""
        self.matrix = interaction_matrix(train, n_users, n_items)
        gram = (self.matrix.T @ self.matrix).toarray().astype(np.float64)
        gram[np.diag_indices(n_items)] += self.l2
        precision = np.linalg.inv(gram)
        weights = -precision / np.diag(precision)  # column j divided by P_jj
        np.fill_diagonal(weights, 0.0)
        self.weights = weights.astype(np.float32)
        if self.recency_decay is not None:
            self.matrix = recency_matrix(train, n_users, n_items, self.recency_decay)
        return self

    def score_all(self, user_idx: np.ndarray) -> np.ndarray:
        """`X_u · B`, `[batch, n_items]`."""
        assert self.matrix is not None and self.weights is not None, "fit first"
        return np.asarray(self.matrix[np.asarray(user_idx)] @ self.weights)
