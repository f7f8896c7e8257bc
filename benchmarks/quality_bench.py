"""`slotrec bench quality`: NeuMF against popularity, item-kNN and EASE on one split.

Protocol (the NCF paper's, with a validation item for model selection):

1. leave-last-out by timestamp: per user, the latest interaction is test, the one before it
   validation, everything earlier train;
2. select on validation (full-ranking NDCG@10): NeuMF's epoch count by early stopping, EASE's
   λ and item-kNN's k from small grids;
3. refit every model on train + validation with what was selected (NeuMF from scratch, same
   seed, for the selected number of epochs), so the test item's predecessor is known to all of
   them, as in the paper where models train on everything but the last interaction;
4. score the test item with full ranking over all items the user has not interacted with and
   with 99 sampled negatives (fixed seed), the same candidates for every model.

`run_quality` takes any canonical interactions frame (MovieLens here; the simulated casino
later) and returns a dict per model. `run_quality_bench` loads MovieLens-100K from a path
(the data is never copied into the repository) and writes the JSON.
"""

from __future__ import annotations

import dataclasses
import logging
import platform
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from slotrec.atomic import write_json_atomic
from training.baselines import EASE, ItemKNN, Popularity
from training.evaluate import compare, evaluate_model
from training.splits import USER, Split, encode_ids, leave_last_out
from training.trainer import TrainConfig, TrainResult, train_model

logger = logging.getLogger(__name__)

MODELS = ("neumf", "popularity", "itemknn", "ease")


def tuned_neumf_config() -> TrainConfig:
    """The NeuMF setting tuned on MovieLens-100K validation (`TrainConfig`'s defaults).

    GMF 32, MLP 16 per side with a 32-16-8 tower, 6 uniform negatives per positive, batches of
    16k, row-wise Adagrad 0.03 on embeddings and Adam 0.005 on the dense layers; early stopping
    with patience 10 on validation NDCG@10 (full ranking).
    """
    return TrainConfig(epochs=150, patience=10, seed=2024)


@dataclass(frozen=True)
class QualityConfig:
    """What `run_quality` trains and how it scores.

    Attributes:
        neumf: NeuMF training settings.
        ease_l2_grid: EASE λ values tried on validation.
        knn_k_grid: Item-kNN neighbourhood sizes tried on validation.
        refit: Refit every model on train + validation before the test (step 3 above).
        k: Cut-off of HR, NDCG and recall.
        n_negatives: Negatives per test item in the sampled protocol.
        eval_seed: Seed of the sampled negatives.
    """

    neumf: TrainConfig = field(default_factory=tuned_neumf_config)
    ease_l2_grid: tuple[float, ...] = (100.0, 200.0, 300.0, 500.0, 800.0)
    knn_k_grid: tuple[int, ...] = (10, 20, 50, 100, 200)
    refit: bool = True
    k: int = 10
    n_negatives: int = 99
    eval_seed: int = 2024


def load_movielens_100k(path: Path | str) -> pd.DataFrame:
    """Read MovieLens-100K's `u.data` (user, item, rating, unix time; tab-separated).

    Every rating counts as an implicit positive of weight 1 (a rating says the user watched
    the film; how much they liked it is not what a lobby predicts).

    Args:
        path: The `u.data` file, or the folder that holds it.

    Returns:
        Canonical interactions: `user_idx`, `item_idx`, `timestamp`, `weight`, plus `rating`.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "u.data"
    raw = pd.read_csv(path, sep="\t", names=["user_id", "item_id", "rating", "timestamp"])
    frame, _ = encode_ids(raw, user_col="user_id", item_col="item_id", time_col="timestamp")
    frame["rating"] = raw["rating"].to_numpy()
    return frame


def activity_groups(train: pd.DataFrame, edges: tuple[int, ...] = (50, 150)) -> dict[int, str]:
    """User → "light" / "medium" / "heavy" by number of training interactions."""
    counts = train.groupby(USER).size()
    labels = np.select(
        [counts < edges[0], counts < edges[1]], ["light", "medium"], default="heavy"
    )
    return dict(zip(counts.index.tolist(), labels.tolist(), strict=True))


def _flat(full: dict[str, Any], sampled: dict[str, Any], k: int) -> dict[str, Any]:
    """One model's numbers: `hr10_sampled`, `ndcg10_full`, ... plus the full-ranking extras."""
    out: dict[str, Any] = {}
    for name in (f"hr{k}", f"ndcg{k}", f"recall{k}", "mrr"):
        out[f"{name}_sampled"] = sampled[name]
        out[f"{name}_full"] = full[name]
    for name in (f"coverage{k}", f"novelty{k}", f"arp{k}", f"long_tail_share{k}"):
        out[name] = full[name]
    out["users"] = full["users"]
    if "groups" in full:
        out["groups_full"] = full["groups"]
    return out


def _select(
    name: str,
    grid: tuple[Any, ...],
    build: Callable[[Any], Any],
    split: Split,
) -> tuple[Any, dict[str, float]]:
    """Fit one baseline per grid value on train; keep the best validation NDCG@10."""
    scores: dict[str, float] = {}
    for value in grid:
        model = build(value).fit(split.train, split.n_users, split.n_items)
        result = evaluate_model(model, split.train, split.valid, split.n_items)
        scores[str(value)] = result["ndcg10"]
        logger.info("%s %s: valid ndcg10=%.4f", name, value, result["ndcg10"])
    best = max(grid, key=lambda v: scores[str(v)])
    return best, scores


def _train_neumf(split: Split, config: TrainConfig, refit: bool) -> tuple[Any, dict[str, Any]]:
    sizes = {"n_users": split.n_users, "n_items": split.n_items}
    selected: TrainResult = train_model("neumf", split.train, split.valid, config, **sizes)
    info: dict[str, Any] = {
        "best_epoch": selected.best_epoch,
        "valid_ndcg10_full": selected.best_metric,
        "train_seconds": round(selected.seconds, 2),
        "samples_per_second": round(selected.samples_per_second),
        "config": config.to_dict(),
    }
    if not refit:
        return selected.model, info
    final_config = dataclasses.replace(config, epochs=selected.best_epoch)
    joined = pd.concat([split.train, split.valid], ignore_index=True)
    final = train_model("neumf", joined, None, final_config, **sizes)
    info["refit_seconds"] = round(final.seconds, 2)
    return final.model, info


def run_quality(
    interactions: pd.DataFrame,
    config: QualityConfig | None = None,
    *,
    groups: Mapping[int, Hashable] | None = None,
) -> dict[str, dict[str, Any]]:
    """Train and score NeuMF and the three baselines on one leave-last-out split.

    Args:
        interactions: Canonical interactions (`user_idx`, `item_idx`, `timestamp`, `weight`).
        config: Models and protocol; `QualityConfig()` by default.
        groups: Optional user → group label for per-group full-ranking metrics
            (default: light / medium / heavy users by training activity).

    Returns:
        Model name (`neumf`, `popularity`, `itemknn`, `ease`) → metrics (`hr10_sampled`,
        `ndcg10_sampled`, `hr10_full`, `ndcg10_full`, recall, MRR, coverage, novelty,
        popularity bias), the selected hyperparameters, timings, and for each baseline
        `neumf_vs`: NeuMF's delta and relative delta on each shared metric.
    """
    config = config or QualityConfig()
    split = leave_last_out(interactions)
    groups = groups if groups is not None else activity_groups(split.train)
    known = pd.concat([split.train, split.valid], ignore_index=True)
    fit_on = known if config.refit else split.train
    models: dict[str, Any] = {}
    info: dict[str, dict[str, Any]] = {}

    started = time.perf_counter()
    models["neumf"], info["neumf"] = _train_neumf(split, config.neumf, config.refit)
    info["neumf"]["seconds"] = round(time.perf_counter() - started, 2)

    started = time.perf_counter()
    models["popularity"] = Popularity().fit(fit_on, split.n_users, split.n_items)
    info["popularity"] = {"seconds": round(time.perf_counter() - started, 2)}

    started = time.perf_counter()
    k, grid = _select("itemknn", config.knn_k_grid, lambda v: ItemKNN(k=int(v)), split)
    models["itemknn"] = ItemKNN(k=int(k)).fit(fit_on, split.n_users, split.n_items)
    info["itemknn"] = {"k": k, "valid_ndcg10_full": grid}
    info["itemknn"]["seconds"] = round(time.perf_counter() - started, 2)

    started = time.perf_counter()
    l2, grid = _select("ease", config.ease_l2_grid, lambda v: EASE(l2=float(v)), split)
    models["ease"] = EASE(l2=float(l2)).fit(fit_on, split.n_users, split.n_items)
    info["ease"] = {"l2": l2, "valid_ndcg10_full": grid}
    info["ease"]["seconds"] = round(time.perf_counter() - started, 2)

    results: dict[str, dict[str, Any]] = {}
    for name in MODELS:
        common = {"k": config.k}
        full = evaluate_model(
            models[name], known, split.test, split.n_items, protocol="full", groups=groups,
            **common,
        )
        sampled = evaluate_model(
            models[name], known, split.test, split.n_items, protocol="sampled",
            n_negatives=config.n_negatives, seed=config.eval_seed, **common,
        )
        results[name] = {**_flat(full, sampled, config.k), **info[name]}
        logger.info(
            "%s: sampled hr%d=%.4f ndcg%d=%.4f | full hr%d=%.4f ndcg%d=%.4f",
            name, config.k, sampled[f"hr{config.k}"], config.k, sampled[f"ndcg{config.k}"],
            config.k, full[f"hr{config.k}"], config.k, full[f"ndcg{config.k}"],
        )
    deltas = compare({n: _metrics_only(r) for n, r in results.items()})
    for name, rows in deltas.items():
        results[name]["neumf_vs"] = {
            metric: {"delta": row["delta"], "relative": row["relative"]}
            for metric, row in rows.items()
        }
    return results


def _metrics_only(result: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("_sampled", "_full")
    return {k: v for k, v in result.items() if k.endswith(keep) and not isinstance(v, dict)}


def summary(results: Mapping[str, Mapping[str, Any]], k: int = 10) -> list[str]:
    """Human-readable lines: each model's four headline numbers and NeuMF's lead or lag."""
    lines = []
    for name, r in results.items():
        line = (
            f"{name:<10} sampled HR@{k} {r[f'hr{k}_sampled']:.4f} NDCG@{k} "
            f"{r[f'ndcg{k}_sampled']:.4f} | full HR@{k} {r[f'hr{k}_full']:.4f} "
            f"NDCG@{k} {r[f'ndcg{k}_full']:.4f}"
        )
        if "neumf_vs" in r:
            parts = []
            for protocol in ("sampled", "full"):
                rel = r["neumf_vs"][f"ndcg{k}_{protocol}"]["relative"]
                parts.append(f"{rel:+.1%} {protocol} NDCG" if rel is not None else "n/a")
            line += " | NeuMF " + ", ".join(parts)
        lines.append(line)
    return lines


def run_quality_bench(
    ml100k_path: Path | str,
    out: Path | str,
    config: QualityConfig | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the MovieLens-100K quality benchmark and write its JSON to `out`.

    Args:
        ml100k_path: `u.data` or its folder.
        out: Where the JSON goes (written atomically).
        config: Models and protocol.
        log: Where progress lines go.

    Returns:
        `{"ml100k": {model: metrics}, "meta": {...}}`; "meta" holds the protocol, wall time
        and machine.
    """
    started = time.perf_counter()
    interactions = load_movielens_100k(ml100k_path)
    log(f"MovieLens-100K: {len(interactions):,} interactions")
    results = run_quality(interactions, config)
    wall = time.perf_counter() - started
    for line in summary(results):
        log(line)
    log(f"wall time {wall:.0f}s")
    config = config or QualityConfig()
    payload = {
        "ml100k": results,
        "meta": {
            "protocol": "leave-last-out by timestamp; select on validation; refit on "
            "train+validation; test: full ranking and 99 sampled negatives"
            if config.refit
            else "leave-last-out by timestamp; fit on train; test: full and 99 sampled",
            "wall_seconds": round(wall, 1),
            "python": platform.python_version(),
            "machine": platform.machine(),
        },
    }
    write_json_atomic(Path(out), payload)
    return payload
