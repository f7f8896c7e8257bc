"""Is one model really ahead of another? Paired tests over per-user metric values.

Two models scored on the same held-out rows give one value per user each. Their gap is judged
on the per-user differences, which cancels what the users share (an easy user is easy for
both models), so a paired test sees a gap a comparison of two independent means would miss.

- The confidence interval resamples users with replacement (percentile bootstrap).
- The p-value flips the sign of each user's difference at random (a paired randomisation
  test): under "no difference" either model could have produced either value.

On the simulated test day a few hundred users hold out one play each, and one user's NDCG@10
is 0 or between 0.29 and 1, so the mean of such values moves by about 0.015 between samples.
That is as large as the gaps between good models, which is why the benchmark reports these
intervals next to every "NeuMF is ahead by ...".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

import numpy as np
import pandas as pd

DEFAULT_RESAMPLES = 4_000
DEFAULT_SEED = 2024


class PairedComparison(TypedDict):
    """The reference model minus the baseline, over the users both were scored on."""

    delta: float
    ci95: tuple[float, float]
    p_value: float
    users: int


def paired_comparison(
    reference: pd.Series,
    baseline: pd.Series,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> PairedComparison:
    """Mean per-user difference `reference - baseline` with a 95% interval and a p-value.

    Args:
        reference: Per-user metric of the reference model (index: user).
        baseline: The same metric of the other model over the same users.
        resamples: Bootstrap resamples and sign-flip permutations (each).
        seed: Seeds both, so a report is reproducible.

    Returns:
        `delta` (the observed mean difference), `ci95` (2.5th and 97.5th percentiles of the
        bootstrapped mean difference), `p_value` (two-sided, sign-flip test; the observed
        difference counts as one of the permutations, so it is never 0) and `users`.

    Raises:
        ValueError: If the two series do not cover the same users, or cover none.
    """
    if not reference.index.sort_values().equals(baseline.index.sort_values()):
        raise ValueError(
            "paired comparison needs both models scored on the same users: "
            f"{len(reference.index.symmetric_difference(baseline.index))} users differ"
        )
    if reference.empty:
        raise ValueError("paired comparison needs at least one user")
    diff = (reference - baseline.reindex(reference.index)).to_numpy(np.float64)  # [n]
    n = diff.size
    observed = float(diff.mean())
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    flipped = np.empty(resamples)
    # chunks keep the [chunk, n] index and sign matrices small for large test sets
    chunk = max(1, (1 << 22) // n)
    for start in range(0, resamples, chunk):
        rows = min(chunk, resamples - start)
        means[start : start + rows] = diff[rng.integers(0, n, size=(rows, n))].mean(axis=1)
        signs = rng.integers(0, 2, size=(rows, n)) * 2 - 1
        flipped[start : start + rows] = (signs * diff).mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    # a tiny tolerance so that float noise does not decide ties with the observed value
    extreme = int(np.sum(np.abs(flipped) >= abs(observed) - 1e-12))
    return {
        "delta": observed,
        "ci95": (float(low), float(high)),
        "p_value": (extreme + 1) / (resamples + 1),
        "users": n,
    }


def intervals_against(
    per_user: Mapping[str, Mapping[str, pd.Series]],
    reference: str = "neumf",
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> dict[str, dict[str, dict[str, Any]]]:
    """The reference model against every other one, per metric, as JSON-ready dicts.

    Args:
        per_user: Model → metric name → per-user values (the same users for every model).
        reference: The model compared against the others.
        resamples: Passed to `paired_comparison`.
        seed: Passed to `paired_comparison`.

    Returns:
        Other model → metric → `{"ci95": [low, high], "p_value": p}` of reference − other.
    """
    ref = per_user[reference]
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name, values in per_user.items():
        if name == reference:
            continue
        out[name] = {}
        for metric, series in values.items():
            test = paired_comparison(ref[metric], series, resamples=resamples, seed=seed)
            out[name][metric] = {"ci95": list(test["ci95"]), "p_value": test["p_value"]}
    return out
