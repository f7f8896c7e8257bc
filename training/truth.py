"""Evaluation against the simulator's hidden truth: would the player really like these slots?

Held-out plays say what a player happened to play next; on a simulated world the simulator also
knows each player's true affinity for every slot (a `TrueAffinity`, passed in). Two metrics read
it, both over the slots the player has not played yet (what a lobby may show):

- truth NDCG@k: the DCG of the model's top-k with the true affinity as the gain, over the DCG
  of the k unplayed slots with the highest true affinity (1.0 = the best possible list);
- true top-n share@k: the share of the model's top-k that lies in the player's true top-n
  unplayed slots (top 50 by default).

The metric functions read plain frames, like `training.metrics`: a *recommendation frame*
(one row per recommended (user, item) with its 1-based `rank`) and a *truth frame* (one row per
(user, candidate item) with its `affinity`). `truth_evaluation` builds both for a model.
"""

from __future__ import annotations

from typing import Any, Final, Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp

from training.evaluate import score_users
from training.metrics import COL_ITEM, COL_RANK, COL_USER, DEFAULT_K

COL_AFFINITY: Final = "affinity"
DEFAULT_TOP_N: Final = 50


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))  # [k], position 1 → 1.0


def truth_ndcg_at_k(
    recs: pd.DataFrame,
    truth: pd.DataFrame,
    k: int = DEFAULT_K,
    *,
    col_user: str = COL_USER,
    col_item: str = COL_ITEM,
    col_rank: str = COL_RANK,
    col_affinity: str = COL_AFFINITY,
) -> float:
    """Mean over users of NDCG@k with the true affinity as graded relevance.

    Args:
        recs: One row per recommended (user, item) with its 1-based rank.
        truth: One row per (user, candidate item) with its true affinity; the candidates are
            what the list could have held (the user's unplayed items).
        k: List length.
        col_user: User column.
        col_item: Item column.
        col_rank: Rank column of `recs`.
        col_affinity: Affinity column of `truth`.

    Returns:
        Truth NDCG@k in [0, 1], averaged over the users of `recs` that have truth rows;
        a recommended item missing from `truth` gains 0. 0.0 when no user qualifies.
    """
    top = recs[recs[col_rank] <= k]
    gains = top.merge(
        truth[[col_user, col_item, col_affinity]], on=[col_user, col_item], how="left"
    )
    gains[col_affinity] = gains[col_affinity].fillna(0.0)
    discount = _discounts(k)
    gains["_dcg"] = gains[col_affinity].to_numpy() * discount[gains[col_rank].to_numpy() - 1]
    dcg = gains.groupby(col_user)["_dcg"].sum()
    # ideal list: each user's k best candidates, best first
    ideal = truth.sort_values([col_user, col_affinity], ascending=[True, False], kind="stable")
    position = ideal.groupby(col_user).cumcount().to_numpy()
    ideal = ideal[position < k]
    ideal_gain = ideal[col_affinity].to_numpy() * discount[position[position < k]]
    idcg = pd.Series(ideal_gain).groupby(ideal[col_user].to_numpy()).sum()
    users = dcg.index.intersection(idcg.index[idcg > 0])
    if len(users) == 0:
        return 0.0
    return float((dcg[users] / idcg[users]).mean())


def true_top_share(
    recs: pd.DataFrame,
    truth: pd.DataFrame,
    k: int = DEFAULT_K,
    top_n: int = DEFAULT_TOP_N,
    *,
    col_user: str = COL_USER,
    col_item: str = COL_ITEM,
    col_rank: str = COL_RANK,
    col_affinity: str = COL_AFFINITY,
) -> float:
    """Mean over users of the share of their top-k that is in their true top-`top_n`.

    Args:
        recs: One row per recommended (user, item) with its 1-based rank.
        truth: One row per (user, candidate item) with its true affinity.
        k: List length (the share is over the items the user got, at most k).
        top_n: Size of the user's true best set among the candidates (ties broken by item
            index, lowest first).
        col_user: User column.
        col_item: Item column.
        col_rank: Rank column of `recs`.
        col_affinity: Affinity column of `truth`.

    Returns:
        The share in [0, 1], averaged over the users of `recs` that have truth rows.
    """
    ordered = truth.sort_values(
        [col_user, col_affinity, col_item], ascending=[True, False, True], kind="stable"
    )
    best = ordered[ordered.groupby(col_user).cumcount() < top_n][[col_user, col_item]]
    top = recs[recs[col_rank] <= k][[col_user, col_item]]
    top = top[top[col_user].isin(truth[col_user].unique())]
    if top.empty:
        return 0.0
    hits = top.merge(best.assign(_hit=1.0), on=[col_user, col_item], how="left")
    return float(hits["_hit"].fillna(0.0).groupby(hits[col_user]).mean().mean())


def truth_metrics(
    recs: pd.DataFrame, truth: pd.DataFrame, k: int = DEFAULT_K, top_n: int = DEFAULT_TOP_N
) -> dict[str, float]:
    """`truth_ndcg{k}` and `true_top{top_n}_share{k}` in one dict (default column names)."""
    return {
        f"truth_ndcg{k}": truth_ndcg_at_k(recs, truth, k),
        f"true_top{top_n}_share{k}": true_top_share(recs, truth, k, top_n),
    }


class TrueAffinity(Protocol):
    """A world's true affinities, addressed by training's `user_idx` / `item_idx`.

    Only a simulated world has them; the simulator provides one (`slotrec.simulator.truth`),
    and whoever runs training on a simulated world (the demo, the benchmarks, `slotrec daily`
    on a simulated data directory) passes it in: training never reads the simulator itself.
    """

    @property
    def n_items(self) -> int:
        """Slots indexed (the columns of `affinity`)."""
        ...

    def affinity(self, user_idx: np.ndarray) -> np.ndarray:
        """True affinity `[len(user_idx), n_items]` of each user for every indexed slot."""
        ...


def _frames(
    scores: np.ndarray, affinity: np.ndarray, played: np.ndarray, users: np.ndarray, k: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Recommendation and truth frames of one block of users (`played` masks candidates)."""
    scores = np.where(played, -np.inf, scores)  # [b, n_items]
    kk = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :kk]  # [b, k] best first
    recs = pd.DataFrame(
        {
            COL_USER: np.repeat(users, kk),
            COL_ITEM: top.ravel(),
            COL_RANK: np.tile(np.arange(1, kk + 1), len(users)),
        }
    )
    row, col = np.nonzero(~played)
    truth = pd.DataFrame({COL_USER: users[row], COL_ITEM: col, COL_AFFINITY: affinity[row, col]})
    return recs, truth


def truth_evaluation(
    model: Any,
    known: pd.DataFrame,
    users: np.ndarray,
    truth: TrueAffinity,
    k: int = DEFAULT_K,
    top_n: int = DEFAULT_TOP_N,
) -> dict[str, float]:
    """A model's top-k for `users` (known items masked) scored against the true affinity.

    Args:
        model: A torch model from `training.models` or a fitted baseline.
        known: Interactions the users already had (masked from their lists and candidates).
        users: The users to evaluate (typically the test users).
        truth: The world's true affinities.
        k: List length.
        top_n: Size of the true best set for the share metric.

    Returns:
        `truth_ndcg{k}`, `true_top{top_n}_share{k}` and `users`.
    """
    users = np.unique(np.asarray(users, np.int64))
    n_items = truth.n_items
    known_m = sp.csr_matrix(
        (np.ones(len(known), bool), (known[COL_USER].to_numpy(), known[COL_ITEM].to_numpy())),
        shape=(max(int(users.max()) + 1, int(known[COL_USER].max()) + 1), n_items),
    )
    recs, frames = [], []
    for start in range(0, len(users), 512):
        block = users[start : start + 512]
        played = known_m[block].toarray()  # [b, n_items]
        rec, tru = _frames(score_users(model, block), truth.affinity(block), played, block, k)
        recs.append(rec)
        frames.append(tru)
    result = truth_metrics(pd.concat(recs), pd.concat(frames), k, top_n)
    result["users"] = len(users)
    return result
