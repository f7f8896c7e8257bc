"""Negative sampling (vectorised, never a known positive, follows its distribution) and splits."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from training.sampling import (
    PositiveSet,
    popularity_distribution,
    sample_distinct_negatives,
    sample_negatives,
    sampler_probs,
)
from training.splits import encode_ids, leave_last_out, temporal_split


def random_positives(
    n_users: int, n_items: int, per_user: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), per_user)
    items = np.concatenate([rng.choice(n_items, per_user, replace=False) for _ in range(n_users)])
    return users, items


def test_positive_set_membership() -> None:
    known = PositiveSet(np.array([0, 0, 2]), np.array([1, 3, 0]), n_items=4)
    mask = known.contains(np.array([0, 0, 1, 2, 2]), np.array([1, 2, 1, 0, 3]))
    assert mask.tolist() == [True, False, False, True, False]
    assert known.items_of(0).tolist() == [1, 3]
    assert known.items_of(1).tolist() == []


@pytest.mark.parametrize("kind", ["uniform", "popularity"])
def test_negatives_are_never_known_positives(kind: str) -> None:
    users, items = random_positives(200, 50, per_user=30)  # 60 % of the catalogue is positive
    known = PositiveSet(users, items, 50)
    rng = np.random.default_rng(1)
    probs = sampler_probs(kind, items, 50)  # type: ignore[arg-type]
    query = np.repeat(users, 4)
    negatives = sample_negatives(query, 50, rng, positives=known, probs=probs)
    assert negatives.shape == query.shape
    assert not known.contains(query, negatives).any()
    assert negatives.min() >= 0 and negatives.max() < 50


def test_a_user_who_played_all_but_one_item_gets_that_item() -> None:
    users = np.zeros(9, np.int64)
    items = np.array([0, 1, 2, 3, 5, 6, 7, 8, 9])  # everything but item 4
    known = PositiveSet(users, items, 10)
    negatives = sample_negatives(
        np.zeros(1000, np.int64), 10, np.random.default_rng(0), positives=known, max_rounds=2
    )
    assert (negatives == 4).all()


def test_popularity_sampler_follows_the_distribution() -> None:
    counts = np.array([1000, 300, 100, 10, 0], dtype=float)
    probs = popularity_distribution(counts, alpha=0.75)
    assert probs.sum() == pytest.approx(1.0)
    assert probs[4] > 0  # never-played items can still be drawn
    draws = sample_negatives(np.zeros(400_000, np.int64), 5, np.random.default_rng(2), probs=probs)
    freq = np.bincount(draws, minlength=5) / len(draws)
    np.testing.assert_allclose(freq, probs, atol=0.005)
    # alpha = 0 is uniform
    np.testing.assert_allclose(popularity_distribution(counts, 0.0), np.full(5, 0.2))


def test_sampling_is_vectorised() -> None:
    users, items = random_positives(2_000, 1_000, per_user=50)
    known = PositiveSet(users, items, 1_000)
    query = np.repeat(users, 8)  # 800k negatives
    started = time.perf_counter()
    negatives = sample_negatives(query, 1_000, np.random.default_rng(0), positives=known)
    elapsed = time.perf_counter() - started
    # A per-sample Python loop takes tens of seconds here; the vectorised path well under one.
    assert elapsed < 3.0
    assert not known.contains(query, negatives).any()


def test_sampling_is_reproducible() -> None:
    users, items = random_positives(50, 40, per_user=10)
    known = PositiveSet(users, items, 40)
    a = sample_negatives(users, 40, np.random.default_rng(5), positives=known)
    b = sample_negatives(users, 40, np.random.default_rng(5), positives=known)
    assert (a == b).all()


def test_distinct_negatives_for_evaluation() -> None:
    users, items = random_positives(100, 120, per_user=15)
    known = PositiveSet(users, items, 120)
    query = np.arange(100)
    negatives = sample_distinct_negatives(
        query, 99, 120, np.random.default_rng(0), positives=known, chunk_cells=3_000
    )
    assert negatives.shape == (100, 99)
    assert all(len(set(row)) == 99 for row in negatives.tolist())
    assert not known.contains(np.repeat(query, 99), negatives.ravel()).any()
    with pytest.raises(ValueError):
        sample_distinct_negatives(query, 120, 120, np.random.default_rng(0))


# --- splits -------------------------------------------------------------------------------


def interactions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_idx": [0, 0, 0, 0, 1, 1, 1, 2, 2],
            "item_idx": [0, 1, 2, 3, 1, 2, 3, 0, 1],
            "timestamp": [1, 2, 3, 4, 5, 5, 7, 1, 2],
            "weight": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
        }
    )


def test_leave_last_out_holds_out_latest_two_per_user() -> None:
    split = leave_last_out(interactions())
    assert split.test.set_index("user_idx")["item_idx"].to_dict() == {0: 3, 1: 3}
    # user 1's items 1 and 2 tie at t=5: input order decides, so item 2 is the later one
    assert split.valid.set_index("user_idx")["item_idx"].to_dict() == {0: 2, 1: 2}
    # user 2 has only two interactions: all of them stay in train
    assert sorted(map(tuple, split.train[["user_idx", "item_idx"]].to_numpy().tolist())) == [
        (0, 0),
        (0, 1),
        (1, 1),
        (2, 0),
        (2, 1),
    ]
    assert (split.n_users, split.n_items) == (3, 4)
    assert split.test["weight"].tolist() == pytest.approx([0.4, 0.7])


def test_temporal_split_windows_and_cold_rows() -> None:
    day = 86_400
    df = pd.DataFrame(
        {
            "user_idx": [0, 0, 1, 1, 0, 1, 2, 0, 1],
            "item_idx": [0, 1, 0, 2, 2, 0, 0, 3, 1],
            "timestamp": [0, 1, 2, 3, 8, 8, 8, 10, 10],
        }
    )
    df["timestamp"] *= day
    split = temporal_split(df, valid_days=3, test_days=1, weight_col=None)
    # train: days 0-3; valid: days 6-8 (user 1's replay of item 0 and cold user 2 dropped)
    assert split.train["timestamp"].max() < 7 * day
    assert split.valid[["user_idx", "item_idx"]].values.tolist() == [[0, 2]]
    # test: the final day; item 3 was never seen in train, so only user 1's item 1 remains
    assert split.test[["user_idx", "item_idx"]].values.tolist() == [[1, 1]]
    assert (split.train["weight"] == 1.0).all()


def test_temporal_split_accepts_datetimes() -> None:
    df = interactions()
    df["timestamp"] = pd.to_datetime("2026-01-01", utc=True) + pd.to_timedelta(
        df["timestamp"], unit="D"
    )
    split = temporal_split(df, valid_days=2, test_days=1, drop_unknown=False)
    assert split.test[["user_idx", "item_idx"]].values.tolist() == [[1, 3]]
    assert split.valid["timestamp"].min() >= pd.Timestamp("2026-01-05", tz="UTC")
    assert split.train["timestamp"].max() < pd.Timestamp("2026-01-05", tz="UTC")


def test_encode_ids_gives_consecutive_indices() -> None:
    raw = pd.DataFrame({"u": ["b", "a", "b"], "i": [30, 10, 20], "t": [1, 2, 3]})
    df, maps = encode_ids(raw, user_col="u", item_col="i", time_col="t")
    assert df["user_idx"].tolist() == [1, 0, 1]
    assert df["item_idx"].tolist() == [2, 0, 1]
    assert maps.item_ids[df["item_idx"]].tolist() == [30, 10, 20]
    assert (df["weight"] == 1).all()
