"""`slotrec bench quality`: NeuMF against popularity, item-kNN and EASE on one split.

Protocol (the NCF paper's, with a validation item for model selection):

1. leave-last-out by timestamp: per user, the latest interaction is test, the one before it
   validation, everything earlier train;
2. select on validation (full-ranking NDCG@10): NeuMF's epoch count at the peak of the mean
   validation curve of three seeds (smoothed over five epochs), EASE's λ and item-kNN's k from
   small grids;
3. refit every model on train + validation with what was selected (NeuMF from scratch, for the
   selected number of epochs, once per seed), so the test item's predecessor is known to all
   of them, as in the paper where models train on everything but the last interaction;
4. score the test item with full ranking over all items the user has not interacted with and
   with 99 sampled negatives (fixed seed), the same candidates for every model.

NeuMF's numbers are the mean over its seeds, each seed's model scored on its own: on a test
set of 943 users one training run's HR@10 moves by about ±0.015 with the seed, which is as
large as the gaps between the models, so one seed would say more about luck than about NeuMF.

`run_quality` takes any canonical interactions frame and returns a dict per model;
`run_quality_on_split` does the same for a ready split. `run_quality_bench` loads
MovieLens-100K from a path (the data is never copied into the repository), then builds a
simulated casino world with the project's own pipeline (simulator → dbt → Feast →
`load_slotrec_data`, as the daily retrain gets its data) and fills the "simulated" section
with the same table on the daily retrain's temporal split, plus each model's top-10 scored
against the simulator's hidden truth (`training.truth`). It writes one JSON.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import tempfile
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from slotrec.core.atomic import write_json_atomic
from slotrec.core.settings import Settings, get_settings
from slotrec.daily import run_daily
from slotrec.simulator import SimulationConfig, simulate_world
from slotrec.simulator.truth import SimulatorTruth
from training.baselines import EASE, ItemKNN, Popularity
from training.data import load_slotrec_data
from training.evaluate import compare, evaluate_model
from training.pipeline import fit_batch_size, slotrec_train_config
from training.significance import intervals_against
from training.splits import ITEM, USER, Split, encode_ids, leave_last_out
from training.trainer import ModelKind, TrainConfig, TrainResult, train_model
from training.truth import DEFAULT_TOP_N, truth_evaluation

logger = logging.getLogger(__name__)

MODELS = ("neumf", "popularity", "itemknn", "ease")
SECTIONS = ("ml100k", "simulated")
TRUTH_PREFIXES = ("truth_", "true_top")
# One torch thread: this benchmark measures quality, not speed, and on a shared two-core
# machine two spinning intra-op threads slow an epoch down many times over when other jobs
# hold the cores (the results do not depend on the thread count beyond float rounding).
BENCH_THREADS = 1


def tuned_neumf_config() -> TrainConfig:
    """The NeuMF setting tuned on MovieLens-100K validation.

    `TrainConfig`'s defaults (GMF 32, MLP 16 per side with a 32-16-8 tower, 6 uniform negatives
    per positive, batches of 16k, row-wise Adagrad 0.03 on embeddings and Adam 0.005 on the
    dense layers; early stopping with patience 10 on validation NDCG@10, full ranking), plus
    user vectors that pool the films watched before each positive (`history_order`
    "sequence"), the newest weighted 1 and each one back 0.7 times less.

    Leave-last-out holds out each user's last film, and what a user rated just before it says
    much more about it than the whole profile does. Mean validation NDCG@10 over three seeds:
    0.075 plain, 0.072 with the profile-order history, 0.120 / 0.126 / 0.125 / 0.123 / 0.117
    with the sequence order at decay 0.6 / 0.7 / 0.8 / 0.9 / 0.95 (sampled protocol at 0.8:
    0.505 against 0.408 plain).
    """
    return TrainConfig(
        epochs=150,
        patience=10,
        seed=2024,
        num_threads=BENCH_THREADS,
        user_history=True,
        history_order="sequence",
        history_decay=0.7,
    )


@dataclass(frozen=True)
class QualityConfig:
    """What `run_quality` trains and how it scores.

    Attributes:
        neumf: NeuMF training settings.
        ease_l2_grid: EASE λ values tried on validation.
        ease_recency_grid: Recency decays tried on validation for "ease_recency" (EASE at
            the selected λ, scored with recency-weighted histories); () leaves it out.
        knn_k_grid: Item-kNN neighbourhood sizes tried on validation.
        refit: Refit every model on train + validation before the test (step 3 above).
        seeds: NeuMF is trained with this many consecutive seeds: their mean validation curve
            sets the epoch count, each seed's refit is scored on its own, and the reported
            NeuMF numbers are the mean over seeds (`per_seed` and `std` keep the spread).
        k: Cut-off of HR, NDCG and recall.
        n_negatives: Negatives per test item in the sampled protocol.
        eval_seed: Seed of the sampled negatives.
    """

    neumf: TrainConfig = field(default_factory=tuned_neumf_config)
    ease_l2_grid: tuple[float, ...] = (100.0, 200.0, 300.0, 500.0, 800.0)
    ease_recency_grid: tuple[float, ...] = (0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
    knn_k_grid: tuple[int, ...] = (10, 20, 50, 100, 200)
    refit: bool = True
    seeds: int = 3
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
    labels = np.select([counts < edges[0], counts < edges[1]], ["light", "medium"], default="heavy")
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


def _epochs_from_curves(runs: list[TrainResult], window: int) -> tuple[int, float]:
    """Epoch count at the peak of the restarts' mean validation curve, smoothed over `window`.

    One run's curve is noisy enough that its argmax wanders by ten epochs or more between
    seeds; the refit trains a fresh run anyway, so what it needs from validation is the epoch
    count a typical run peaks at, not the luckiest run's.
    """
    curves = [[s.valid["ndcg10"] for s in r.history if s.valid is not None] for r in runs]
    length = min(len(c) for c in curves)
    mean = np.mean([c[:length] for c in curves], axis=0)  # [epochs]
    smoothed = [float(np.mean(mean[max(0, i + 1 - window) : i + 1])) for i in range(length)]
    best = int(np.argmax(smoothed))
    return best + 1, smoothed[best]


def _train(
    kind: ModelKind,
    train: pd.DataFrame,
    valid: pd.DataFrame | None,
    config: TrainConfig,
    sizes: dict[str, int],
) -> TrainResult:
    return train_model(
        kind, train, valid, config, n_users=sizes["n_users"], n_items=sizes["n_items"]
    )


def _train_neumf(
    split: Split, config: TrainConfig, refit: bool, seeds: int
) -> tuple[list[Any], dict[str, Any]]:
    """NeuMF with `seeds` consecutive seeds: pick the epoch count on validation, then refit.

    Returns one model per seed (each a complete NeuMF, scored on its own; nothing is blended).
    """
    sizes = {"n_users": split.n_users, "n_items": split.n_items}
    runs: list[TrainResult] = []
    for offset in range(seeds):
        seeded = dataclasses.replace(config, seed=config.seed + offset)
        runs.append(_train("neumf", split.train, split.valid, seeded, sizes))
        logger.info(
            "neumf seed %d: best epoch %d, valid ndcg10 %.4f",
            seeded.seed,
            runs[-1].best_epoch,
            runs[-1].best_metric,
        )
    epochs, valid_ndcg = _epochs_from_curves(runs, config.valid_window)
    info: dict[str, Any] = {
        "epochs": epochs,
        "valid_ndcg10_full": valid_ndcg,
        "seeds": [config.seed + i for i in range(seeds)],
        "seed_best_epoch": [r.best_epoch for r in runs],
        "seed_valid_ndcg10_full": [round(r.best_metric, 4) for r in runs],
        "train_seconds": round(sum(r.seconds for r in runs), 2),
        "samples_per_second": round(
            sum(r.samples for r in runs) / sum(r.train_seconds for r in runs)
        ),
        "config": config.to_dict(),
    }
    if not refit:
        return [r.model for r in runs], info
    joined = pd.concat([split.train, split.valid], ignore_index=True)
    models, seconds = [], 0.0
    for offset in range(seeds):
        final = dataclasses.replace(config, seed=config.seed + offset, epochs=epochs)
        result = _train("neumf", joined, None, final, sizes)
        models.append(result.model)
        seconds += result.seconds
    info["refit_seconds"] = round(seconds, 2)
    return models, info


def _mean(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Element-wise mean of metric dicts with the same keys (nested dicts included)."""
    out: dict[str, Any] = {}
    for key, value in results[0].items():
        if isinstance(value, dict):
            out[key] = _mean([r[key] for r in results])
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = float(np.mean([r[key] for r in results]))
        else:
            out[key] = value
    return out


def _score(
    model: Any,
    known: pd.DataFrame,
    split: Split,
    config: QualityConfig,
    groups: Any,
    truth: SimulatorTruth | None = None,
) -> tuple[dict[str, Any], dict[str, pd.Series]]:
    """Both protocols on the test set, flattened into one dict, plus per-user NDCG@k.

    The second value maps `ndcg{k}_full` / `ndcg{k}_sampled` to each test user's (full) or
    each held-out row's (sampled) NDCG@k, for the paired comparison between models.
    A catalogue too small for `n_negatives` distinct unplayed items (a tiny simulated world)
    samples half of it instead, as the daily retrain's evaluation does.
    With `truth`, the first value also holds the truth metrics of the model's top-k for the
    test users (`truth_evaluation`'s, less its user count).
    """
    full = evaluate_model(
        model,
        known,
        split.test,
        split.n_items,
        protocol="full",
        k=config.k,
        groups=groups,
        per_user=True,
    )
    sampled = evaluate_model(
        model,
        known,
        split.test,
        split.n_items,
        protocol="sampled",
        k=config.k,
        n_negatives=min(config.n_negatives, split.n_items // 2),
        seed=config.eval_seed,
        per_user=True,
    )
    key = f"per_user_ndcg{config.k}"
    per_user = {f"ndcg{config.k}_full": full.pop(key), f"ndcg{config.k}_sampled": sampled.pop(key)}
    result = _flat(full, sampled, config.k)
    if truth is not None:
        test_users = split.test[USER].to_numpy()
        graded = truth_evaluation(model, known, test_users, truth, k=config.k)
        result.update({name: value for name, value in graded.items() if name != "users"})
    return result, per_user


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
        Model name → metrics, as `run_quality_on_split` returns them.
    """
    split = leave_last_out(interactions)
    return run_quality_on_split(split, config, groups=groups)


def _seconds_since(started: float) -> float:
    """Wall time since `started` (a `time.perf_counter()` reading), rounded for the JSON."""
    return round(time.perf_counter() - started, 2)


def _fit_selected(
    name: str,
    grid: tuple[Any, ...],
    build: Callable[[Any], Any],
    split: Split,
    fit_on: pd.DataFrame,
) -> tuple[Any, Any, dict[str, float]]:
    """Select a baseline's hyperparameter on validation (`_select`), then fit it on `fit_on`.

    Returns:
        The fitted model, the selected grid value, and the validation NDCG@10 of each value.
    """
    best, scores = _select(name, grid, build, split)
    return build(best).fit(fit_on, split.n_users, split.n_items), best, scores


def _fit_baselines(
    split: Split, config: QualityConfig
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Popularity, item-kNN, EASE and (when its grid is not empty) recency-weighted EASE.

    Each is selected on validation where it has a grid, then fitted on train + validation
    when `config.refit` (on train alone otherwise).

    Returns:
        Model name → fitted model, and model name → its selected values, validation grid and
        seconds (selection included).
    """
    fit_on = (
        pd.concat([split.train, split.valid], ignore_index=True) if config.refit else split.train
    )
    models: dict[str, Any] = {}
    info: dict[str, dict[str, Any]] = {}

    started = time.perf_counter()
    models["popularity"] = Popularity().fit(fit_on, split.n_users, split.n_items)
    info["popularity"] = {"seconds": _seconds_since(started)}

    started = time.perf_counter()
    models["itemknn"], k, grid = _fit_selected(
        "itemknn", config.knn_k_grid, lambda v: ItemKNN(k=int(v)), split, fit_on
    )
    info["itemknn"] = {"k": k, "valid_ndcg10_full": grid, "seconds": _seconds_since(started)}

    started = time.perf_counter()
    models["ease"], l2, grid = _fit_selected(
        "ease", config.ease_l2_grid, lambda v: EASE(l2=float(v)), split, fit_on
    )
    info["ease"] = {"l2": l2, "valid_ndcg10_full": grid, "seconds": _seconds_since(started)}

    if config.ease_recency_grid:
        # the recency decay is selected at the λ plain EASE selected, not on a joint grid
        started = time.perf_counter()
        models["ease_recency"], decay, grid = _fit_selected(
            "ease_recency",
            config.ease_recency_grid,
            lambda v: EASE(l2=float(l2), recency_decay=float(v)),
            split,
            fit_on,
        )
        info["ease_recency"] = {"l2": l2, "recency_decay": decay, "valid_ndcg10_full": grid}
        info["ease_recency"]["seconds"] = _seconds_since(started)
    return models, info


def _headline(k: int, with_truth: bool) -> list[str]:
    """The metrics logged per model and kept per NeuMF seed (with their spread)."""
    headline = [f"hr{k}_sampled", f"ndcg{k}_sampled", f"hr{k}_full", f"ndcg{k}_full"]
    if with_truth:
        headline += [f"truth_ndcg{k}", f"true_top{DEFAULT_TOP_N}_share{k}"]
    return headline


def _neumf_result(
    scored: list[tuple[dict[str, Any], dict[str, pd.Series]]],
    info: dict[str, Any],
    headline: list[str],
) -> tuple[dict[str, Any], dict[str, pd.Series]]:
    """NeuMF's entry from its seeds' scores: their mean, each seed's headline and the spread.

    Args:
        scored: `_score`'s answer for each seed's model.
        info: NeuMF's training figures (`_train_neumf`'s, plus seconds).
        headline: The metrics kept per seed and whose standard deviation is reported.

    Returns:
        NeuMF's metrics and figures, and its per-user NDCG@k for the paired comparison.
    """
    per_seed = [result for result, _ in scored]
    # NeuMF's per-user values are the mean over its seeds, like its reported metrics
    per_user = {
        metric: pd.concat([by_user[metric] for _, by_user in scored], axis=1).mean(axis=1)
        for metric in scored[0][1]
    }
    result = {**_mean(per_seed), **info}
    result["per_seed"] = [{m: r[m] for m in headline} for r in per_seed]
    result["std"] = {m: float(np.std([r[m] for r in per_seed])) for m in headline}
    return result, per_user


def _add_neumf_vs(
    results: dict[str, dict[str, Any]], per_user: dict[str, dict[str, pd.Series]]
) -> None:
    """Give each baseline's entry `neumf_vs`: NeuMF's delta, relative delta and paired test."""
    deltas = compare({n: _metrics_only(r) for n, r in results.items()})
    tests = intervals_against(per_user)
    for name, rows in deltas.items():
        results[name]["neumf_vs"] = {
            metric: {"delta": row["delta"], "relative": row["relative"]}
            | tests[name].get(metric, {})
            for metric, row in rows.items()
        }


def run_quality_on_split(
    split: Split,
    config: QualityConfig | None = None,
    *,
    groups: Mapping[int, Hashable] | None = None,
    truth: SimulatorTruth | None = None,
) -> dict[str, dict[str, Any]]:
    """Train and score NeuMF and the three baselines on a given split.

    Args:
        split: Train (fit), validation (selection) and test (the reported numbers).
        config: Models and protocol; `QualityConfig()` by default.
        groups: Optional user → group label for per-group full-ranking metrics
            (default: light / medium / heavy users by training activity).
        truth: A simulated world's true affinities; adds `truth_ndcg10` and
            `true_top50_share10` of each model's top-10 for the test users.

    Returns:
        Model name (`neumf`, `popularity`, `itemknn`, `ease`, and `ease_recency` when its grid
        is not empty) → metrics (`hr10_sampled`, `ndcg10_sampled`, `hr10_full`,
        `ndcg10_full`, recall, MRR, coverage, novelty, popularity bias, truth metrics when
        `truth` is given), the selected hyperparameters,
        timings, and for each baseline `neumf_vs`: NeuMF's delta and relative delta on each
        shared metric.
    """
    config = config or QualityConfig()
    groups = groups if groups is not None else activity_groups(split.train)
    known = pd.concat([split.train[[USER, ITEM]], split.valid[[USER, ITEM]]], ignore_index=True)

    started = time.perf_counter()
    neumf_models, neumf_info = _train_neumf(split, config.neumf, config.refit, config.seeds)
    neumf_info["seconds"] = _seconds_since(started)
    models, info = _fit_baselines(split, config)

    def score(model: Any) -> tuple[dict[str, Any], dict[str, pd.Series]]:
        return _score(model, known, split, config, groups, truth)

    headline = _headline(config.k, truth is not None)
    results: dict[str, dict[str, Any]] = {}
    per_user: dict[str, dict[str, pd.Series]] = {}
    results["neumf"], per_user["neumf"] = _neumf_result(
        [score(m) for m in neumf_models], neumf_info, headline
    )
    for name in models:
        result, per_user[name] = score(models[name])
        results[name] = {**result, **info[name]}
    for name, r in results.items():
        logger.info("%s: %s", name, {m: round(r[m], 4) for m in headline})
    _add_neumf_vs(results, per_user)
    return results


def _metrics_only(result: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("_sampled", "_full")
    return {
        k: v
        for k, v in result.items()
        if (k.endswith(keep) or k.startswith(TRUTH_PREFIXES)) and not isinstance(v, dict)
    }


def summary(results: Mapping[str, Mapping[str, Any]], k: int = 10) -> list[str]:
    """Human-readable lines: each model's four headline numbers and NeuMF's lead or lag.

    The lead or lag is relative, with the paired test's p-value where the results have one.
    """
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
                versus = r["neumf_vs"][f"ndcg{k}_{protocol}"]
                rel = versus["relative"]
                text = f"{rel:+.1%} {protocol} NDCG" if rel is not None else "n/a"
                if "p_value" in versus:
                    text += f" (p {versus['p_value']:.3f})"
                parts.append(text)
            line += " | NeuMF " + ", ".join(parts)
        lines.append(line)
    return lines


@dataclass(frozen=True)
class WorldConfig:
    """The simulated casino world of the benchmark's "simulated" section.

    50,000 players put about 3,700 new (player, slot) plays on the test day. With 10,000 the
    day held about 690, and one model's NDCG@10 moved by about ±0.015 with the sample, more
    than the gaps between NeuMF, EASE and item-kNN (0.003 to 0.009), so no ranking of them
    meant anything. Simulate → dbt → Feast still takes about a minute on two cores.
    """

    players: int = 50_000
    slots: int = 300
    days: int = 21
    seed: int = 11
    start: date = date(2026, 1, 1)

    @property
    def last_day(self) -> date:
        """The run date: the test day of the split."""
        return self.start + timedelta(days=self.days - 1)


def simulated_quality_config(train_pairs: int) -> QualityConfig:
    """The simulated section's protocol: the daily retrain's own split and NeuMF settings.

    No refit: the daily retrain fits on the training window and early-stops on the validation
    days (whose rows carry raw play seconds, not graded weights), and so does this benchmark.
    """
    neumf = fit_batch_size(slotrec_train_config(seed=2024, num_threads=BENCH_THREADS), train_pairs)
    return QualityConfig(
        neumf=neumf,
        ease_l2_grid=(10.0, 50.0, 200.0, 500.0),
        ease_recency_grid=(),  # the daily NeuMF pools whole profiles; order is not used here
        knn_k_grid=(10, 20, 50, 100, 200),
        refit=False,
    )


def build_simulated_world(root: Path, world: WorldConfig, log: Callable[[str], None]) -> Settings:
    """Simulate a world under `root` and run the daily pipeline over it (dbt + Feast, no training).

    Returns:
        Settings pointing at the world, ready for `load_slotrec_data`.
    """
    settings = get_settings(data_dir=root)
    config = SimulationConfig(
        seed=world.seed,
        n_players=world.players,
        n_slots=world.slots,
        days=world.days,
        start_date=world.start,
    )
    summary = simulate_world(config, settings.layout)
    log(f"simulated {summary.delivered_rows:,} events in {summary.elapsed_seconds:.0f}s")
    started = time.perf_counter()
    run_daily(settings, world.last_day, world.start, with_training=False)
    log(f"dbt + Feast over {world.days} days in {time.perf_counter() - started:.0f}s")
    return settings


def run_simulated_quality(
    root: Path,
    world: WorldConfig,
    config: QualityConfig | None = None,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The quality table on a simulated world, with truth metrics.

    The training data comes the way the daily retrain gets it: simulator → dbt marts → Feast
    → `load_slotrec_data` (temporal split: train, 3 validation days, the test day).

    Args:
        root: An empty folder for the world's data.
        world: Its size and seed.
        config: Models and protocol (default: `simulated_quality_config`).
        log: Where progress lines go.

    Returns:
        Model name → metrics, and a description of the world and split.
    """
    settings = build_simulated_world(root, world, log)
    data = load_slotrec_data(settings, world.last_day)
    truth = SimulatorTruth(settings.layout, data.user_ids, data.slot_ids)
    config = config or simulated_quality_config(len(data.split.train))
    results = run_quality_on_split(data.split, config, groups=data.groups, truth=truth)
    about: dict[str, Any] = {
        "world": dataclasses.asdict(world) | {"start": world.start.isoformat()},
        "window": data.window,
        "n_users": data.split.n_users,
        "n_items": data.split.n_items,
    }
    return results, about


def _log_summary(results: Mapping[str, Mapping[str, Any]], log: Callable[[str], None]) -> None:
    """Log a section's table, one `summary` line per model."""
    for line in summary(results):
        log(line)


def _ml100k_section(
    ml100k_path: Path | str,
    config: QualityConfig,
    log: Callable[[str], None],
    started: float,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Run the MovieLens-100K section.

    Args:
        ml100k_path: `u.data` or its folder.
        config: Models and protocol.
        log: Where progress lines go.
        started: When the benchmark started (`time.perf_counter()`): this section runs first,
            so its wall time counts from there.

    Returns:
        Model name → metrics, and the section's entries of "meta" (protocol, wall time, load
        average).
    """
    interactions = load_movielens_100k(ml100k_path)
    log(f"MovieLens-100K: {len(interactions):,} interactions")
    results = run_quality(interactions, config)
    _log_summary(results, log)
    meta = {
        "protocol": (
            "leave-last-out by timestamp; select on validation; refit on "
            "train+validation; test: full ranking and 99 sampled negatives"
            if config.refit
            else "leave-last-out by timestamp; fit on train; test: full and 99 sampled"
        ),
        "ml100k_wall_seconds": round(time.perf_counter() - started, 1),
        "ml100k_load_average": list(os.getloadavg()),
    }
    return results, meta


def _simulated_section(
    world: WorldConfig, work_dir: Path | None, log: Callable[[str], None]
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Run the simulated section in a temporary folder under `work_dir` (deleted after).

    Returns:
        Model name → metrics, and the section's entries of "meta" (the world and split with
        their protocol, wall time, load average).
    """
    tick = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=work_dir) as scratch:
        results, about = run_simulated_quality(Path(scratch), world, log=log)
    _log_summary(results, log)
    about["protocol"] = (
        "the daily retrain's split (train window, 3 validation days, the test day; "
        "held-out pairs new to the player); fit on train, select on validation; test: "
        "full ranking and 99 sampled negatives; truth metrics over unplayed slots"
    )
    meta = {
        "simulated": about,
        "simulated_wall_seconds": round(time.perf_counter() - tick, 1),
        "simulated_load_average": list(os.getloadavg()),
    }
    return results, meta


def _finish_meta(meta: dict[str, Any], sections: tuple[str, ...], started: float) -> None:
    """Add the run's own figures to "meta" and rename the keys older versions wrote.

    Args:
        meta: The meta of the existing JSON, updated by the sections run; changed in place.
        sections: The sections this run measured.
        started: When the benchmark started (`time.perf_counter()`).
    """
    meta.update(
        sections_run=list(sections),
        wall_seconds=round(time.perf_counter() - started, 1),
        python=platform.python_version(),
        machine=platform.machine(),
    )
    if "load_average" in meta:  # written by an older version, about the ml100k run
        meta.setdefault("ml100k_load_average", meta.pop("load_average"))
    if "ml100k" in sections:
        meta.pop("ml100k_note", None)
    elif "note" in meta:
        meta["ml100k_note"] = meta.pop("note")


def run_quality_bench(
    ml100k_path: Path | str,
    out: Path | str,
    config: QualityConfig | None = None,
    log: Callable[[str], None] = print,
    *,
    world: WorldConfig | None = WorldConfig(),
    work_dir: Path | None = None,
    sections: tuple[str, ...] = SECTIONS,
) -> dict[str, Any]:
    """Run the quality benchmark (MovieLens-100K, then a simulated world) and write its JSON.

    Args:
        ml100k_path: `u.data` or its folder.
        out: Where the JSON goes (written atomically).
        config: MovieLens models and protocol.
        log: Where progress lines go.
        world: The simulated world; None skips the "simulated" section.
        work_dir: Where the simulated world is written (default: a temporary folder).
        sections: Which of `SECTIONS` to run; a section not run is kept from an existing
            `out` (with its meta), so one section can be re-measured on its own.

    Returns:
        `{"ml100k": {model: metrics}, "simulated": {model: metrics}, "meta": {...}}`; "meta"
        holds the protocols, the world, wall times, load average and machine.
    """
    started = time.perf_counter()
    config = config or QualityConfig()
    out = Path(out)
    previous = json.loads(out.read_text()) if out.exists() else {}
    payload: dict[str, Any] = {}
    meta: dict[str, Any] = dict(previous.get("meta", {}))
    # a section not run this time keeps its numbers (and meta) from the existing JSON
    if "ml100k" in sections:
        payload["ml100k"], entries = _ml100k_section(ml100k_path, config, log, started)
        meta.update(entries)
    elif "ml100k" in previous:
        payload["ml100k"] = previous["ml100k"]
    if world is not None and "simulated" in sections:
        payload["simulated"], entries = _simulated_section(world, work_dir, log)
        meta.update(entries)
    elif "simulated" in previous:
        payload["simulated"] = previous["simulated"]
    _finish_meta(meta, sections, started)
    payload["meta"] = meta
    log(f"wall time {meta['wall_seconds']:.0f}s")
    write_json_atomic(out, payload)
    return payload
