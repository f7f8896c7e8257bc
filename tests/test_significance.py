"""The paired comparison behind "NeuMF is ahead by ...": exact deltas, honest intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.significance import paired_comparison


def _series(values: list[float], users: list[int] | None = None) -> pd.Series:
    return pd.Series(values, index=users if users is not None else range(len(values)))


def test_delta_is_the_mean_per_user_difference_whatever_the_order() -> None:
    reference = _series([1.0, 0.5, 0.0, 0.25], users=[7, 3, 5, 9])
    baseline = _series([0.5, 0.5, 0.0, 0.0], users=[5, 9, 7, 3])  # same users, other order
    result = paired_comparison(reference, baseline, resamples=500)
    # per user: 7 → 1.0 - 0.0, 3 → 0.5 - 0.0, 5 → 0.0 - 0.5, 9 → 0.25 - 0.5
    assert result["delta"] == pytest.approx((1.0 + 0.5 - 0.5 - 0.25) / 4)
    assert result["users"] == 4


def test_identical_models_differ_by_nothing() -> None:
    values = _series(list(np.linspace(0, 1, 50)))
    result = paired_comparison(values, values.copy(), resamples=500)
    assert result["delta"] == 0.0
    assert result["ci95"] == (0.0, 0.0)
    assert result["p_value"] == 1.0


def test_a_consistent_gain_is_significant_and_its_interval_excludes_zero() -> None:
    rng = np.random.default_rng(0)
    baseline = _series(list(rng.random(400)))
    reference = baseline + 0.05 + rng.normal(0, 0.02, 400)  # every user a little better
    result = paired_comparison(reference, baseline, resamples=2_000)
    assert result["delta"] == pytest.approx(0.05, abs=0.005)
    low, high = result["ci95"]
    assert 0.0 < low < result["delta"] < high
    # nothing of 2,000 sign flips comes close: the smallest p-value the test can give
    assert result["p_value"] == pytest.approx(1 / 2_001)


def test_pure_noise_is_not_significant() -> None:
    rng = np.random.default_rng(1)
    baseline = _series(list(rng.random(300)))
    reference = _series(list(rng.permutation(baseline.to_numpy())))  # same values, reshuffled
    result = paired_comparison(reference, baseline, resamples=2_000)
    low, high = result["ci95"]
    assert low < 0.0 < high
    assert result["p_value"] > 0.05


def test_the_same_seed_gives_the_same_report() -> None:
    rng = np.random.default_rng(2)
    a, b = _series(list(rng.random(100))), _series(list(rng.random(100)))
    assert paired_comparison(a, b, seed=5) == paired_comparison(a, b, seed=5)


def test_models_scored_on_different_users_are_refused() -> None:
    with pytest.raises(ValueError, match="same users: 2 users differ"):
        paired_comparison(_series([1.0, 0.0], users=[1, 2]), _series([1.0, 0.0], users=[1, 3]))
    with pytest.raises(ValueError, match="at least one user"):
        paired_comparison(_series([]), _series([]))
