"""Evaluate any model the same way: full ranking or the NCF paper's 99 sampled negatives.

A model is anything with `score_all(user_idx) -> [batch, n_items]`: the torch models of
`training.models` (called under `no_grad` with a tensor) and the numpy baselines alike. The
evaluation builds a rank frame (`training.metrics`) and reads every metric from it.

- "full" (primary): each held-out item is ranked against every item the user has not
  interacted with in the known interactions; beyond-accuracy metrics come from the same top-K.
- "sampled": each held-out item is ranked against `n_negatives` distinct items the user never
  played, drawn with a fixed seed, so every model sees the same candidates.

Ties count against the held-out item (an item tied with it is ranked above it), so a model
that scores everything the same gets no credit.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any, Literal, TypeGuard

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from training import metrics
from training.models import NCFModel
from training.sampling import PositiveSet, sample_distinct_negatives
from training.splits import ITEM, USER

Protocol = Literal["full", "sampled"]
REFERENCE = "neumf"
# counts, not quality: a difference in them says nothing about which model is better
_NOT_COMPARED = frozenset({"users", "k"})


def score_users(model: Any, user_idx: np.ndarray) -> np.ndarray:
    """Scores `[len(user_idx), n_items]` from a torch module or a numpy baseline."""
    if isinstance(model, NCFModel):
        was_training = model.training
        model.eval()
        with torch.no_grad():
            scores = model.score_all(torch.as_tensor(user_idx, dtype=torch.long)).numpy()
        model.train(was_training)
        return scores
    return np.asarray(model.score_all(np.asarray(user_idx)), dtype=np.float32)


def score_pairs(model: Any, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
    """Scores `[n, m]` of items `item_idx[r, :]` for user `user_idx[r]`.

    Torch models score just those pairs; baselines score whole rows and pick from them.
    """
    if isinstance(model, NCFModel):
        was_training = model.training
        model.eval()
        pair_users = torch.as_tensor(np.repeat(user_idx, item_idx.shape[1]), dtype=torch.long)
        with torch.no_grad():
            flat = model.score(pair_users, torch.as_tensor(item_idx.ravel(), dtype=torch.long))
        model.train(was_training)
        return flat.numpy().reshape(item_idx.shape)
    users, inverse = np.unique(user_idx, return_inverse=True)
    return np.take_along_axis(score_users(model, users)[inverse], item_idx, axis=1)


def _pairs(frame: pd.DataFrame) -> pd.DataFrame:
    # integer (user, item) columns only, even for an empty frame
    return frame[[USER, ITEM]].astype(np.int64)


def _known_matrix(known: pd.DataFrame, n_users: int, n_items: int) -> sp.csr_matrix:
    ones = np.ones(len(known), dtype=bool)
    return sp.csr_matrix(
        (ones, (known[USER].to_numpy(), known[ITEM].to_numpy())), shape=(n_users, n_items)
    )


def _user_chunks(users: np.ndarray, n_items: int, cells: int) -> list[np.ndarray]:
    size = max(1, cells // max(n_items, 1))
    return [users[i : i + size] for i in range(0, len(users), size)]


def _full_ranks(
    model: Any, known: pd.DataFrame, test: pd.DataFrame, n_items: int, k: int, cells: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ranks of held-out items over all unplayed items, and each user's top-k list."""
    users = np.unique(test[USER].to_numpy())
    n_users = int(max(users.max(), known[USER].max() if len(known) else 0)) + 1
    known_m = _known_matrix(known, n_users, n_items)
    test_sorted = test.sort_values(USER, kind="stable")
    t_users = test_sorted[USER].to_numpy()
    t_items = test_sorted[ITEM].to_numpy()
    ranks = np.empty(len(test_sorted), np.int64)
    rec_users, rec_items = [], []
    for chunk in _user_chunks(users, n_items, cells):
        scores = score_users(model, chunk)  # [b, n_items]
        played = known_m[chunk].tocoo()
        scores[played.row, played.col] = -np.inf
        lo, hi = np.searchsorted(t_users, [chunk[0], chunk[-1] + 1])
        rows = np.searchsorted(chunk, t_users[lo:hi])  # test row → row of `scores`
        target = scores[rows, t_items[lo:hi]][:, None]  # [n_test, 1]
        competing = scores[rows]  # [n_test, n_items]
        # ties rank above the target; the target itself is the one tie that must not count
        ranks[lo:hi] = 1 + (competing > target).sum(1) + (competing == target).sum(1) - 1
        kk = min(k, n_items)
        top = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]  # [b, k] unordered
        rec_users.append(np.repeat(chunk, kk))
        rec_items.append(top.ravel())
    rank_frame = pd.DataFrame({USER: t_users, ITEM: t_items, metrics.COL_RANK: ranks})
    recs = pd.DataFrame({USER: np.concatenate(rec_users), ITEM: np.concatenate(rec_items)})
    return rank_frame, recs


def _sampled_ranks(
    model: Any,
    known: pd.DataFrame,
    test: pd.DataFrame,
    n_items: int,
    n_negatives: int,
    seed: int,
    cells: int,
) -> pd.DataFrame:
    """Rank of each held-out item among `n_negatives` fixed random unplayed items."""
    everything = pd.concat([known[[USER, ITEM]], test[[USER, ITEM]]])
    positives = PositiveSet(everything[USER].to_numpy(), everything[ITEM].to_numpy(), n_items)
    t_users = test[USER].to_numpy()
    t_items = test[ITEM].to_numpy()
    rng = np.random.default_rng(seed)
    negatives = sample_distinct_negatives(t_users, n_negatives, n_items, rng, positives=positives)
    ranks = np.empty(len(test), np.int64)
    # candidates[:, 0] is the held-out item, the rest its negatives
    candidates = np.concatenate([t_items[:, None], negatives], axis=1)  # [n_test, 1 + n_neg]
    rows = max(1, cells // n_items)  # baselines score whole rows, so bound by the catalogue
    for start in range(0, len(test), rows):
        part = slice(start, start + rows)
        scores = score_pairs(model, t_users[part], candidates[part])
        ranks[part] = 1 + (scores[:, 1:] >= scores[:, :1]).sum(1)
    # every held-out row is its own query (its own candidate set), so it is its own "user"
    return pd.DataFrame(
        {"query": np.arange(len(test)), USER: t_users, ITEM: t_items, metrics.COL_RANK: ranks}
    )


def _beyond_accuracy(
    recs: pd.DataFrame, known: pd.DataFrame, n_items: int, k: int
) -> dict[str, float]:
    pairs = known[[USER, ITEM]].drop_duplicates()
    popularity = np.bincount(pairs[ITEM].to_numpy(), minlength=n_items)
    n_users = int(pairs[USER].nunique())
    return {
        f"coverage{k}": metrics.catalogue_coverage(recs, n_items),
        f"novelty{k}": metrics.novelty(recs, popularity, n_users),
        f"arp{k}": metrics.average_recommendation_popularity(recs, popularity, n_users),
        f"long_tail_share{k}": metrics.long_tail_share(recs, popularity),
    }


def evaluate_model(
    model: Any,
    train: pd.DataFrame,
    test: pd.DataFrame,
    n_items: int,
    *,
    protocol: Protocol = "full",
    k: int = 10,
    n_negatives: int = 99,
    seed: int = 2024,
    groups: Mapping[int, Hashable] | None = None,
    per_user: bool = False,
    cells: int = 1 << 18,
) -> dict[str, Any]:
    """Score held-out interactions with one protocol.

    Args:
        model: A torch model from `training.models` or a fitted baseline.
        train: Known interactions, masked from the ranking (pass train + validation when
            scoring the test set).
        test: Held-out interactions, one row per (user, item).
        n_items: Size of the item index space.
        protocol: "full" ranking over unplayed items, or "sampled" negatives.
        k: Cut-off for HR, NDCG, recall and the beyond-accuracy metrics.
        n_negatives: Negatives per held-out item for the "sampled" protocol.
        seed: Seed of the sampled negatives; keep it fixed to compare models.
        groups: Optional user → group label; adds per-group metrics under "groups".
        per_user: Add `per_user_ndcg{k}`, a Series of each user's (full ranking) or each
            held-out row's (sampled) NDCG@k, for paired comparisons between models.
        cells: Bound on `users * n_items` scores held in memory at once (a torch model's
            whole-catalogue scoring also holds its hidden layer for as many pairs).

    Returns:
        `hr{k}`, `ndcg{k}`, `recall{k}`, `mrr`, `users`, `protocol`, and for "full" ranking
        `coverage{k}`, `novelty{k}`, `arp{k}` and `long_tail_share{k}`.
    """
    train = _pairs(train)
    test = _pairs(test)
    if protocol == "full":
        ranks, recs = _full_ranks(model, train, test, n_items, k, cells)
        result: dict[str, Any] = metrics.accuracy_metrics(ranks, k)
        result.update(_beyond_accuracy(recs, train, n_items, k))
        col_user = USER
    elif protocol == "sampled":
        ranks = _sampled_ranks(model, train, test, n_items, n_negatives, seed, cells)
        result = metrics.accuracy_metrics(ranks, k, col_user="query")
        result["users"] = int(ranks[USER].nunique())
        col_user = "query"
    else:
        raise ValueError(f"protocol must be 'full' or 'sampled', got {protocol!r}")
    result["protocol"] = protocol
    if per_user:
        result[f"per_user_ndcg{k}"] = metrics.ndcg_per_user(ranks, k, col_user=col_user)
    if groups is not None:
        labels = ranks[USER].map(groups)
        result["groups"] = {
            str(label): metrics.accuracy_metrics(ranks[labels == label], k, col_user=col_user)
            for label in sorted(labels.dropna().unique(), key=str)
        }
    return result


Delta = dict[str, float | None]


def compare(
    results: Mapping[str, Mapping[str, Any]], reference: str = REFERENCE
) -> dict[str, dict[str, Delta]]:
    """How far the reference model (NeuMF) is ahead of or behind each other model.

    Args:
        results: Model name → flat metric dict (numeric values are compared).
        reference: The model the others are compared against.

    Returns:
        Baseline → metric → `{"reference", "baseline", "delta", "relative"}`, where `delta` is
        reference − baseline and `relative` is that delta over the baseline (None when the
        baseline is 0). Positive means the reference is ahead.
    """
    ref = results[reference]
    out: dict[str, dict[str, Delta]] = {}
    for name, other in results.items():
        if name == reference:
            continue
        rows: dict[str, Delta] = {}
        for metric, value in ref.items():
            base = other.get(metric)
            if metric in _NOT_COMPARED or not _is_number(value) or not _is_number(base):
                continue
            delta = float(value) - float(base)
            rows[metric] = {
                "reference": float(value),
                "baseline": float(base),
                "delta": delta,
                "relative": delta / float(base) if base else None,
            }
        out[name] = rows
    return out


def _is_number(value: Any) -> TypeGuard[int | float | np.number]:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool)
