"""Evaluation against the simulator's hidden truth: would the player really like these slots?

Held-out plays say what a player happened to play next; on a simulated world the simulator also
knows each player's true affinity for every slot (`slotrec.simulator.true_affinity`). Two
metrics read it, both over the slots the player has not played yet (what a lobby may show):

- truth NDCG@k: the DCG of the model's top-k with the true affinity as the gain, over the DCG
  of the k unplayed slots with the highest true affinity (1.0 = the best possible list);
- true top-n share@k: the share of the model's top-k that lies in the player's true top-n
  unplayed slots (top 50 by default).

The metric functions read plain frames, like `training.metrics`: a *recommendation frame*
(one row per recommended (user, item) with its 1-based `rank`) and a *truth frame* (one row per
(user, candidate item) with its `affinity`). `truth_evaluation` builds both for a model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import pandas as pd
import scipy.sparse as sp

from slotrec.settings import DataLayout
from slotrec.simulator import load_truth, true_affinity
from training.evaluate import score_users
from training.metrics import COL_ITEM, COL_RANK, COL_USER, DEFAULT_K

COL_AFFINITY: Final = "affinity"
DEFAULT_TOP_N: Final = 50
_ID_NUMBER = re.compile(r"^[a-z]+(\d+)$")


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


def id_numbers(ids: Sequence[str]) -> np.ndarray:
    """The simulator's index of each external id: "u0000001" → 0, "s000012" → 11.

    Raises:
        ValueError: An id does not have the simulator's prefix-and-number form.
    """
    out = np.empty(len(ids), np.int64)
    for position, value in enumerate(ids):
        match = _ID_NUMBER.match(value)
        if match is None:
            raise ValueError(f"id {value!r} is not a simulator id (letters then digits)")
        out[position] = int(match.group(1)) - 1
    return out


def has_truth(layout: DataLayout) -> bool:
    """Whether a simulated world's truth files are there (real deployments have none)."""
    return all((layout.truth_dir / name).exists() for name in ("players.parquet", "slots.parquet"))


class SimulatorTruth:
    """True affinities of a simulated world, addressed by training's `user_idx` / `item_idx`."""

    def __init__(
        self, layout: DataLayout, user_ids: Sequence[str], slot_ids: Sequence[str]
    ) -> None:
        """Load the hidden tastes and map training indices onto the simulator's.

        Args:
            layout: The simulated world's data layout (its `truth_dir` must hold the truth).
            user_ids: External user id of each `user_idx` (position = index).
            slot_ids: External slot id of each `item_idx`.
        """
        self.players, self.slots = load_truth(layout)
        self.user_numbers = id_numbers(user_ids)
        self.slot_numbers = id_numbers(slot_ids)

    def affinity(self, user_idx: np.ndarray) -> np.ndarray:
        """True affinity `[len(user_idx), n_items]` of each user for every indexed slot."""
        users = self.user_numbers[np.asarray(user_idx, np.int64)]
        pairs_u = np.repeat(users, len(self.slot_numbers))  # [b * n_items]
        pairs_s = np.tile(self.slot_numbers, len(users))
        values = true_affinity(self.players, self.slots, pairs_u, pairs_s)
        return values.reshape(len(users), len(self.slot_numbers))


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
    truth: SimulatorTruth,
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
    n_items = len(truth.slot_numbers)
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
