"""`slotrec bench train` (throughput part): NeuMF training samples per second on this CPU.

A synthetic interaction log of a given size (users x items, Zipf-like item popularity) is
trained for a few epochs with the same trainer and settings the quality benchmark uses. A
"sample" is one (user, item, label) row, positive or sampled negative; the clock covers
everything an epoch does: drawing the negatives, shuffling and every optimiser step
(validation is off). The first epoch is a warm-up and is reported but not counted.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from benchmarks.quality_bench import tuned_neumf_config
from slotrec.atomic import write_json_atomic
from training.splits import ITEM, TIME, USER, WEIGHT
from training.trainer import TrainConfig, train_model

# (name, users, items, interactions): MovieLens-100K's shape, and a slotrec casino of the
# simulator's default size (100k players, 3k slots).
SCENARIOS: tuple[tuple[str, int, int, int], ...] = (
    ("ml100k_shape", 943, 1_682, 100_000),
    ("casino_100k_x_3k", 100_000, 3_000, 2_000_000),
)


def synthetic_interactions(
    n_users: int, n_items: int, n_interactions: int, seed: int = 0
) -> pd.DataFrame:
    """Unique (user, item) pairs with Zipf-like item popularity and a graded weight.

    Args:
        n_users: Users (all appear when `n_interactions >= n_users`).
        n_items: Items.
        n_interactions: Target number of pairs (duplicates are dropped, so a few fewer).
        seed: Random seed.

    Returns:
        Canonical interactions frame.
    """
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    cdf = np.cumsum(popularity / popularity.sum())
    users = np.concatenate(
        [np.arange(n_users), rng.integers(0, n_users, max(n_interactions - n_users, 0))]
    )
    items = np.minimum(np.searchsorted(cdf, rng.random(len(users))), n_items - 1)
    frame = pd.DataFrame({USER: users, ITEM: rng.permutation(n_items)[items]})
    frame = frame.drop_duplicates().reset_index(drop=True)
    frame[TIME] = np.arange(len(frame))
    frame[WEIGHT] = rng.random(len(frame)).astype(np.float32)
    return frame


def measure_throughput(
    n_users: int,
    n_items: int,
    n_interactions: int,
    *,
    config: TrainConfig | None = None,
    epochs: int = 4,
    seed: int = 0,
) -> dict[str, Any]:
    """Train NeuMF on a synthetic log and report samples per second.

    Args:
        n_users: Users.
        n_items: Items.
        n_interactions: Positive interactions (each epoch adds `negatives` per positive).
        config: Training settings (default: the tuned quality-benchmark setting).
        epochs: Epochs to run; the first is a warm-up.
        seed: Seed of the synthetic data.

    Returns:
        `samples_per_second` (epochs after the first), per-epoch rates, sizes, settings and
        the machine's load average before the run (other processes skew the number).
    """
    base = config or tuned_neumf_config()
    config = dataclasses.replace(base, epochs=epochs, patience=0)
    train = synthetic_interactions(n_users, n_items, n_interactions, seed)
    load_before = os.getloadavg()
    result = train_model("neumf", train, None, config, n_users=n_users, n_items=n_items)
    timed = result.history[1:] if len(result.history) > 1 else result.history
    samples = sum(s.samples for s in timed)
    seconds = sum(s.seconds for s in timed)
    return {
        "samples_per_second": round(samples / seconds),
        "epoch_samples_per_second": [round(s.samples_per_second) for s in result.history],
        "samples_per_epoch": result.history[0].samples,
        "n_users": n_users,
        "n_items": n_items,
        "n_interactions": len(train),
        "epochs": epochs,
        "batch_size": config.batch_size,
        "negatives": config.negatives,
        "model": {
            "gmf_dim": config.gmf_dim,
            "mlp_dim": config.mlp_dim,
            "layers": list(config.layers),
        },
        "threads": config.num_threads or torch.get_num_threads(),
        "load_average_before": [round(x, 2) for x in load_before],
    }


def run_train_bench(
    out: Path | str,
    scenarios: tuple[tuple[str, int, int, int], ...] = SCENARIOS,
    config: TrainConfig | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Measure every scenario and write the JSON to `out`.

    Args:
        out: Where the JSON goes (written atomically).
        scenarios: `(name, users, items, interactions)` tuples.
        config: Training settings (default: the tuned quality-benchmark setting).
        log: Where progress lines go.

    Returns:
        Scenario name → `measure_throughput` result, plus "meta".
    """
    payload: dict[str, Any] = {}
    for name, n_users, n_items, n_interactions in scenarios:
        started = time.perf_counter()
        result = measure_throughput(n_users, n_items, n_interactions, config=config)
        result["wall_seconds"] = round(time.perf_counter() - started, 1)
        payload[name] = result
        log(f"{name}: {result['samples_per_second']:,} samples/s")
    payload["meta"] = {
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
    }
    write_json_atomic(Path(out), payload)
    return payload
