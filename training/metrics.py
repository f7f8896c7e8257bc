"""Ranking and beyond-accuracy metrics, pure numpy/pandas.

Accuracy metrics read a *rank frame*: one row per held-out (user, item) pair with the 1-based
rank that item got in the user's ranked candidate list (`training.evaluate` builds it for both
protocols). Keeping the full rank rather than a top-K list makes MRR exact and lets one frame
answer every K. Beyond-accuracy metrics read a *recommendation frame*: one row per recommended
(user, item) with its position in the user's top-K list.

Every function takes its column names as keyword arguments with the shared defaults below, in
the style of recommenders-team/recommenders.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Final

import numpy as np
import pandas as pd

COL_USER: Final = "user_idx"
COL_ITEM: Final = "item_idx"
COL_RANK: Final = "rank"
DEFAULT_K: Final = 10


def _best_rank(ranks: pd.DataFrame, col_user: str, col_rank: str) -> pd.Series:
    # [n_users] the best (smallest) rank among each user's held-out items
    return ranks.groupby(col_user, sort=False)[col_rank].min()


def hit_rate_at_k(
    ranks: pd.DataFrame, k: int = DEFAULT_K, *, col_user: str = COL_USER, col_rank: str = COL_RANK
) -> float:
    """Share of users with at least one held-out item in their top `k`.

    Args:
        ranks: One row per held-out (user, item) with its 1-based rank.
        k: List length.
        col_user: User column.
        col_rank: Rank column.

    Returns:
        HR@k in [0, 1]; 0.0 for an empty frame.
    """
    if ranks.empty:
        return 0.0
    return float((_best_rank(ranks, col_user, col_rank) <= k).mean())


def recall_at_k(
    ranks: pd.DataFrame, k: int = DEFAULT_K, *, col_user: str = COL_USER, col_rank: str = COL_RANK
) -> float:
    """Mean over users of the share of their held-out items found in the top `k`.

    Args:
        ranks: One row per held-out (user, item) with its 1-based rank.
        k: List length.
        col_user: User column.
        col_rank: Rank column.

    Returns:
        Recall@k in [0, 1]; equals HR@k when every user holds out exactly one item.
    """
    if ranks.empty:
        return 0.0
    hits = (ranks[col_rank] <= k).groupby(ranks[col_user], sort=False).mean()
    return float(hits.mean())


def _ideal_dcg(n_relevant: np.ndarray, k: int) -> np.ndarray:
    # IDCG for n relevant items: all of them at the top, capped at k positions.
    discounts = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])
    return discounts[np.minimum(n_relevant, k)]


def ndcg_at_k(
    ranks: pd.DataFrame, k: int = DEFAULT_K, *, col_user: str = COL_USER, col_rank: str = COL_RANK
) -> float:
    """Mean over users of NDCG@k with binary relevance.

    DCG sums `1 / log2(rank + 1)` over held-out items ranked within `k`; IDCG puts all of a
    user's held-out items (at most `k`) at the top.

    Args:
        ranks: One row per held-out (user, item) with its 1-based rank.
        k: List length.
        col_user: User column.
        col_rank: Rank column.

    Returns:
        NDCG@k in [0, 1].
    """
    if ranks.empty:
        return 0.0
    return float(ndcg_per_user(ranks, k, col_user=col_user, col_rank=col_rank).mean())


def ndcg_per_user(
    ranks: pd.DataFrame, k: int = DEFAULT_K, *, col_user: str = COL_USER, col_rank: str = COL_RANK
) -> pd.Series:
    """Each user's NDCG@k (binary relevance), the values `ndcg_at_k` averages.

    Two models scored on the same held-out rows give two such series over the same users,
    which is what a paired comparison (`training.significance`) needs.

    Args:
        ranks: One row per held-out (user, item) with its 1-based rank.
        k: List length.
        col_user: User column.
        col_rank: Rank column.

    Returns:
        NDCG@k per user, indexed by user and sorted by it.
    """
    rank = ranks[col_rank].to_numpy(dtype=np.float64)
    gain = np.where(rank <= k, 1.0 / np.log2(rank + 1.0), 0.0)
    frame = pd.DataFrame({"user": ranks[col_user].to_numpy(), "gain": gain})
    per_user = frame.groupby("user")["gain"].agg(["sum", "size"])
    idcg = _ideal_dcg(per_user["size"].to_numpy(), k)
    return pd.Series(per_user["sum"].to_numpy() / idcg, index=per_user.index.rename(col_user))


def mrr(ranks: pd.DataFrame, *, col_user: str = COL_USER, col_rank: str = COL_RANK) -> float:
    """Mean reciprocal rank of each user's best-ranked held-out item (over the full list).

    Args:
        ranks: One row per held-out (user, item) with its 1-based rank.
        col_user: User column.
        col_rank: Rank column.

    Returns:
        MRR in (0, 1]; 0.0 for an empty frame.
    """
    if ranks.empty:
        return 0.0
    return float((1.0 / _best_rank(ranks, col_user, col_rank)).mean())


def accuracy_metrics(
    ranks: pd.DataFrame, k: int = DEFAULT_K, *, col_user: str = COL_USER, col_rank: str = COL_RANK
) -> dict[str, float]:
    """HR@k, NDCG@k, recall@k and MRR in one dict, keyed e.g. `hr10`, `ndcg10`, `recall10`, `mrr`.

    Args:
        ranks: One row per held-out (user, item) with its 1-based rank.
        k: List length.
        col_user: User column.
        col_rank: Rank column.

    Returns:
        The four metrics plus `users`, the number of evaluated users.
    """
    cols = {"col_user": col_user, "col_rank": col_rank}
    return {
        f"hr{k}": hit_rate_at_k(ranks, k, **cols),
        f"ndcg{k}": ndcg_at_k(ranks, k, **cols),
        f"recall{k}": recall_at_k(ranks, k, **cols),
        "mrr": mrr(ranks, **cols),
        "users": int(ranks[col_user].nunique()),
    }


def metrics_by_group(
    ranks: pd.DataFrame,
    groups: Mapping[int, Hashable],
    k: int = DEFAULT_K,
    *,
    col_user: str = COL_USER,
    col_rank: str = COL_RANK,
) -> dict[str, dict[str, float]]:
    """Accuracy metrics per user group (for example new vs returning players).

    Args:
        ranks: One row per held-out (user, item) with its 1-based rank.
        groups: User → group label. Users missing from the mapping are left out.
        k: List length.
        col_user: User column.
        col_rank: Rank column.

    Returns:
        Group label (as a string) → `accuracy_metrics` for that group's users.
    """
    labels = ranks[col_user].map(groups)
    out: dict[str, dict[str, float]] = {}
    for label in sorted(labels.dropna().unique(), key=str):
        subset = ranks[labels == label]
        out[str(label)] = accuracy_metrics(subset, k, col_user=col_user, col_rank=col_rank)
    return out


def catalogue_coverage(recs: pd.DataFrame, n_items: int, *, col_item: str = COL_ITEM) -> float:
    """Share of the catalogue that appears in at least one recommendation list.

    Args:
        recs: One row per recommended (user, item).
        n_items: Catalogue size.
        col_item: Item column.

    Returns:
        Coverage in [0, 1].
    """
    if n_items <= 0:
        return 0.0
    return float(recs[col_item].nunique() / n_items)


def novelty(
    recs: pd.DataFrame, item_popularity: np.ndarray, n_users: int, *, col_item: str = COL_ITEM
) -> float:
    """Mean self-information `-log2(p(i))` of recommended items, `p(i)` = share of users of item i.

    Items nobody played count as played by one user, so an unseen item is the most novel one
    rather than an infinity.

    Args:
        recs: One row per recommended (user, item).
        item_popularity: Number of distinct training users per item, `[n_items]`.
        n_users: Number of training users.
        col_item: Item column.

    Returns:
        Novelty in bits; higher means less popular recommendations.
    """
    if recs.empty:
        return 0.0
    counts = np.maximum(np.asarray(item_popularity, dtype=np.float64), 1.0)
    p = counts[recs[col_item].to_numpy()] / max(n_users, 1)
    return float(np.mean(-np.log2(p)))


def average_recommendation_popularity(
    recs: pd.DataFrame, item_popularity: np.ndarray, n_users: int, *, col_item: str = COL_ITEM
) -> float:
    """Popularity bias: mean share of training users who played each recommended item (ARP).

    Args:
        recs: One row per recommended (user, item).
        item_popularity: Number of distinct training users per item, `[n_items]`.
        n_users: Number of training users.
        col_item: Item column.

    Returns:
        ARP in [0, 1]; compare with the popularity baseline's value to read the bias.
    """
    if recs.empty:
        return 0.0
    counts = np.asarray(item_popularity, dtype=np.float64)
    return float(np.mean(counts[recs[col_item].to_numpy()]) / max(n_users, 1))


def long_tail_share(
    recs: pd.DataFrame,
    item_popularity: np.ndarray,
    head_fraction: float = 0.2,
    *,
    col_item: str = COL_ITEM,
) -> float:
    """Share of recommendations outside the head (the most-played `head_fraction` of items).

    Args:
        recs: One row per recommended (user, item).
        item_popularity: Number of distinct training users per item, `[n_items]`.
        head_fraction: Fraction of the catalogue that counts as head.
        col_item: Item column.

    Returns:
        Long-tail share in [0, 1].
    """
    if recs.empty:
        return 0.0
    counts = np.asarray(item_popularity)
    n_head = int(np.ceil(head_fraction * len(counts)))
    # Stable sort so ties break by item index, not by platform-dependent quicksort order.
    head = np.zeros(len(counts), dtype=bool)
    head[np.argsort(-counts, kind="stable")[:n_head]] = True
    return float(1.0 - head[recs[col_item].to_numpy()].mean())
