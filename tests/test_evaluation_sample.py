"""The retrain's evaluation sample: a fixed subset of held-out users, with all their rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.pipeline import evaluation_sample
from training.splits import ITEM, USER, Split


def _frame(users: list[int]) -> pd.DataFrame:
    return pd.DataFrame({USER: users, ITEM: np.arange(len(users)) % 5})


def _split() -> Split:
    train = _frame([u for u in range(10) for _ in range(3)])  # 3 rows per user
    valid = _frame([0, 1, 2, 3, 4, 5])
    test = _frame([4, 5, 6, 7, 8, 9])
    return Split(train, valid, test, n_users=10, n_items=5)


def test_small_splits_are_evaluated_whole():
    split = _split()
    assert evaluation_sample(split, 10) is split
    assert evaluation_sample(split, None) is split


def test_sample_keeps_every_row_of_at_most_max_users():
    split = _split()
    sample = evaluation_sample(split, 4)
    kept = set(sample.valid[USER]) | set(sample.test[USER])
    assert len(kept) == 4
    assert set(sample.train[USER]) == kept
    assert len(sample.train) == 3 * 4
    # every model is scored on the same users: the subset is fixed by the seed
    again = evaluation_sample(split, 4)
    assert set(again.valid[USER]) | set(again.test[USER]) == kept
    assert (sample.n_users, sample.n_items) == (10, 5)
