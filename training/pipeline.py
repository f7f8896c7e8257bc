"""The daily retrain: data → baselines + NeuMF → evaluation → index → bundle → gate → promote.

Every model is trained and evaluated on the same split in the same run, so the report's
"NeuMF vs baselines" numbers are like for like. The bundle is written to the BentoML store
whatever the gate says (it is evidence); only a bundle that passes the gate is promoted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import torch

from slotrec.core.settings import Settings
from training.baselines import EASE, ItemKNN, Popularity
from training.bundle import Bundle
from training.data import SlotrecData, load_slotrec_data
from training.evaluate import REFERENCE, compare, evaluate_model
from training.index import SlotIndex, index_kind_for
from training.metadata_model import MetadataEmbedder, evaluate_holdout
from training.model_store import model_store
from training.models import NeuMF
from training.promotion import GateDecision, PromotionRegistry, gate
from training.significance import intervals_against
from training.splits import ITEM, USER, Split
from training.trainer import EpochStats, TrainConfig, TrainResult, graded_weight, train_model
from training.truth import TrueAffinity, truth_evaluation

log = logging.getLogger(__name__)

# Held-out users evaluated per retrain (see `evaluation_sample`); young deployments have fewer
# and are evaluated in full. 25,000 keeps the standard error of NDCG@10 near 0.002 and the
# evaluation of four models at 1M players × 5k slots to about five minutes on one core.
EVAL_MAX_USERS = 25_000


def slotrec_train_config(**overrides: Any) -> TrainConfig:
    """Training settings for slot plays: graded weights, early stopping on full NDCG@10.

    Tuned on the validation days of a simulated 10,000-player world, where most players have
    two or three slots in the training window. A free vector per player fitted on two plays
    overfits them (plain NeuMF peaked at validation NDCG@10 0.229 against EASE's 0.276), so
    each player's vector also pools the learned vectors of the slots they played
    (`user_history`, SVD++ style): that took validation NDCG@10 to 0.274 and test NDCG@10 from
    0.233 to 0.279 (three seeds). The history tables need their own, larger step (0.05; 0.02
    lost 0.03 NDCG), 10 negatives beat 6 by about 0.003, and a 0.9 per-epoch decay lets the
    run settle instead of oscillating. A real L2 pull on the free player rows (0.01 per
    occurrence) still matters: 1e-4 overfit, 0.05 froze them. Slot side features (theme,
    volatility, provider embeddings added to the item and/or history vectors) did not beat this
    on validation (best: history side, step 0.005, 0.2808 vs 0.2822 over six seeds; on the item
    side 0.281 or lower) and cost 3% (history side) to 17% (both) of the 100k × 3k throughput,
    so the option was removed (the README's tried-and-dropped list).
    """
    defaults: dict[str, Any] = {
        "weight_fn": graded_weight,
        "epochs": 60,
        "patience": 8,
        "l2": 0.01,
        "embedding_lr": 0.03,
        "negatives": 10,
        "lr_decay": 0.9,
        "user_history": True,
        "history_lr": 0.05,
        # One torch thread: the daily run shares its machine (dbt, Feast, the service). On
        # this 2-core box with other jobs running, two OpenMP threads spin-waiting on each
        # other trained ~10x slower (30k vs 300k samples/s); one thread degrades gracefully.
        "num_threads": 1,
    }
    defaults.update(overrides)
    return TrainConfig(**defaults)


def fit_batch_size(config: TrainConfig, train_pairs: int) -> TrainConfig:
    """Shrink the batch for small data, so an epoch still takes a few dozen optimiser steps.

    Large batches are what make training fast on a big world, but on a young deployment with a
    few thousand plays one 16k batch per epoch would learn almost nothing per epoch.
    """
    samples = train_pairs * (1 + config.negatives)
    target = 1 << max(8, int(np.log2(max(samples // 32, 1))))
    return replace(config, batch_size=min(config.batch_size, target))


def fit_baselines(split: Split) -> dict[str, Any]:
    """Popularity, item-kNN and EASE fitted on the training pairs."""
    args = (split.train, split.n_users, split.n_items)
    return {
        "popularity": Popularity().fit(*args),
        "itemknn": ItemKNN().fit(*args),
        "ease": EASE().fit(*args),
    }


def evaluate_all(
    models: dict[str, Any],
    split: Split,
    groups: dict[int, str] | None = None,
    truth: TrueAffinity | None = None,
) -> dict[str, Any]:
    """Validation (full ranking) and test (full + sampled) metrics of every model.

    Validation masks train; test masks train + validation, since by the test day the player
    has played both. NeuMF's NDCG@10 lead over each baseline, on validation and on the full
    test ranking, carries a paired 95% interval and p-value (`training.significance`). On a
    simulated world (`truth` given) each model's top-10 for the test users is also scored
    against the true affinities, under `test.truth`.
    """
    known_for_test = pd.concat([split.train, split.valid], ignore_index=True)
    # The NCF paper's 99 sampled negatives; a catalogue too small for that uses half of it.
    negatives = min(99, split.n_items // 2)
    out: dict[str, Any] = {
        "validation": {},
        "test": {"full": {}, "sampled": {}},
        "sampled_negatives": negatives,
    }
    # each model's per-user NDCG@10, for the paired intervals of NeuMF against the baselines
    per_user: dict[str, dict[str, dict[str, pd.Series]]] = {"validation": {}, "test_full": {}}
    for name, model in models.items():
        out["validation"][name] = evaluate_model(
            model, split.train, split.valid, split.n_items, per_user=True
        )
        out["test"]["full"][name] = evaluate_model(
            model, known_for_test, split.test, split.n_items, groups=groups, per_user=True
        )
        for part, results in (
            ("validation", out["validation"]),
            ("test_full", out["test"]["full"]),
        ):
            per_user[part][name] = {"ndcg10": results[name].pop("per_user_ndcg10")}
        out["test"]["sampled"][name] = evaluate_model(
            model,
            known_for_test,
            split.test,
            split.n_items,
            protocol="sampled",
            n_negatives=negatives,
        )
    out["comparison"] = {
        "validation": compare(out["validation"]),
        "test_full": compare(out["test"]["full"]),
    }
    for part, comparison in out["comparison"].items():
        for name, metrics in intervals_against(per_user[part], REFERENCE).items():
            comparison[name]["ndcg10"].update(metrics["ndcg10"])
    if truth is not None:
        test_users = split.test[USER].to_numpy()
        out["test"]["truth"] = {
            name: truth_evaluation(model, known_for_test, test_users, truth)
            for name, model in models.items()
        }
        out["comparison"]["test_truth"] = compare(out["test"]["truth"])
    return out


def evaluation_sample(split: Split, max_users: int | None, seed: int = 2024) -> Split:
    """The split restricted to a fixed random subset of the held-out users.

    Full ranking scores every slot for every evaluated user, for each model; on a million
    players that is the slowest part of a retrain while a sample of tens of thousands gives the
    same metrics to the third decimal. Train keeps only the sampled users' rows too (they are
    what the ranking masks); the models themselves were fitted on the whole of train.

    Args:
        split: The full split.
        max_users: Keep at most this many users of validation ∪ test; None keeps all.
        seed: Seed of the subset, fixed so that every model sees the same users.

    Returns:
        `split` itself when it is small enough, else the restricted split.
    """
    held_out = np.union1d(split.valid[USER].to_numpy(), split.test[USER].to_numpy())
    if max_users is None or len(held_out) <= max_users:
        return split
    keep = np.zeros(split.n_users, dtype=bool)
    keep[np.random.default_rng(seed).choice(held_out, size=max_users, replace=False)] = True

    def restrict(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[keep[frame[USER].to_numpy()]].reset_index(drop=True)

    return Split(
        restrict(split.train),
        restrict(split.valid),
        restrict(split.test),
        split.n_users,
        split.n_items,
    )


def train_and_evaluate(
    split: Split,
    config: TrainConfig,
    *,
    groups: dict[int, str] | None = None,
    truth: TrueAffinity | None = None,
    progress: Callable[[EpochStats], None] | None = None,
    eval_max_users: int | None = EVAL_MAX_USERS,
) -> tuple[TrainResult, dict[str, Any]]:
    """Fit the baselines and NeuMF on one split and evaluate them all on it.

    Shared by the daily retrain and `slotrec train --interactions`, so both report the same
    numbers the same way.

    Args:
        split: Train (fitted on), validation (early stopping) and test interactions.
        config: NeuMF training settings.
        groups: Test user → evaluation group (segment, "new").
        truth: The simulator's hidden truth, when the data is simulated.
        progress: Per-epoch callback.
        eval_max_users: Evaluate on at most this many held-out users (`evaluation_sample`).

    Returns:
        The NeuMF training result and the metrics: `evaluate_all`'s, plus `training`,
        `evaluation` (users evaluated) and `timings_seconds` per phase.
    """
    tick = time.perf_counter()
    models = fit_baselines(split)
    baseline_seconds = time.perf_counter() - tick
    result = train_model(
        "neumf",
        split.train,
        split.valid,
        config,
        n_users=split.n_users,
        n_items=split.n_items,
        progress=progress,
    )
    models["neumf"] = result.model
    tick = time.perf_counter()
    sample = evaluation_sample(split, eval_max_users)
    metrics = evaluate_all(models, sample, groups, truth)
    metrics["evaluation"] = {
        "max_users": eval_max_users,
        "sampled": sample is not split,
        "valid_users": int(sample.valid[USER].nunique()),
        "test_users": int(sample.test[USER].nunique()),
    }
    metrics["training"] = {
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "stopped_by": result.stopped_by,
        "samples_per_second": round(result.samples_per_second),
        "seconds": round(result.seconds, 2),
    }
    metrics["timings_seconds"] = {
        "baselines": round(baseline_seconds, 2),
        "neumf": round(result.seconds, 2),
        "evaluation": round(time.perf_counter() - tick, 2),
    }
    return result, metrics


def slot_vectors(model: NeuMF, data: SlotrecData) -> tuple[np.ndarray, dict[str, Any]]:
    """One vector per released slot: learned where the slot was played, else from metadata.

    Returns the vectors in `data.slots` order and the metadata model's checkpoint + holdout
    evaluation.
    """
    learned = model.item_embeddings().detach().numpy()  # [n_items, gmf_dim]
    played = np.zeros(len(learned), dtype=bool)
    played[np.unique(data.split.train[ITEM].to_numpy())] = True
    slot_idx = data.slots["slot_idx"].to_numpy()
    known = played[slot_idx]
    vectors = learned[slot_idx].copy()
    metadata: dict[str, Any] = {"played_slots": int(known.sum()), "cold_slots": int((~known).sum())}
    if known.sum() >= 10:
        embedder = MetadataEmbedder.fit(data.slots[known], vectors[known])
        if (~known).any():
            vectors[~known] = embedder.predict(data.slots[~known])
        metadata["checkpoint"] = embedder.to_checkpoint()
        metadata["holdout"] = evaluate_holdout(data.slots[known], vectors[known])
    return vectors, metadata


def assemble_bundle(
    model: NeuMF, data: SlotrecData, metrics: dict[str, Any], config: TrainConfig
) -> Bundle:
    """The unsaved bundle of a trained NeuMF: slot vectors, metadata model and FAISS index.

    Adds the metadata model's summary to `metrics` (under "metadata_model"); the index kind
    follows the catalogue size (`index_kind_for`).
    """
    vectors, metadata = slot_vectors(model, data)
    metrics["metadata_model"] = {k: v for k, v in metadata.items() if k != "checkpoint"}
    slot_ids = data.slots["slot_id"].tolist()
    index = SlotIndex.build(
        vectors,
        slot_ids,
        kind=index_kind_for(len(slot_ids)),
        calibration_queries=_calibration_queries(model),
    )
    metrics["index"] = {"kind": index.kind, "slots": len(index), "calibration": index.calibration}
    return Bundle(
        model_checkpoint=model.to_checkpoint(),
        index=index,
        user_ids=data.user_ids,
        slot_ids=data.slot_ids,
        popularity=data.popularity,
        metadata_model_checkpoint=metadata.get("checkpoint"),
        metrics=metrics,
        config=config.to_dict(),
        window=data.window,
    )


def _calibration_queries(model: NeuMF, n: int = 1_000) -> np.ndarray:
    """Query vectors of a fixed random sample of players: what retrieval will ask the index."""
    users = np.random.default_rng(0).choice(model.n_users, min(n, model.n_users), replace=False)
    with torch.no_grad():
        return model.user_embeddings(torch.as_tensor(users)).numpy()


@dataclass
class TrainingOutcome:
    """What one retrain produced and what the gate decided."""

    bundle: Bundle
    decision: GateDecision
    promoted: bool
    seconds: float
    bundle_save_seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        val = self.bundle.metrics["validation"]
        return {
            "bundle": self.bundle.version,
            "promoted": self.promoted,
            "gate": self.decision.to_dict(),
            "validation_ndcg10": {name: m["ndcg10"] for name, m in val.items()},
            "test_full_ndcg10": {
                name: m["ndcg10"] for name, m in self.bundle.metrics["test"]["full"].items()
            },
            # NeuMF minus each baseline on the test day, with its paired interval and p-value
            "test_full_ndcg10_vs": {
                name: {k: row["ndcg10"][k] for k in ("delta", "ci95", "p_value")}
                for name, row in self.bundle.metrics["comparison"]["test_full"].items()
            },
            "seconds": round(self.seconds, 1),
        }


# Builds a world's true affinities for a run's id maps (user ids, slot ids): only a simulated
# world has any, and the caller that knows it is one passes this in.
TruthSource = Callable[[Sequence[str], Sequence[str]], TrueAffinity]


def run_training(
    settings: Settings,
    as_of: date,
    config: TrainConfig | None = None,
    *,
    promote: bool = True,
    progress: Callable[[EpochStats], None] | None = None,
    truth: TruthSource | None = None,
) -> TrainingOutcome:
    """Retrain on the warehouse as of `as_of`, write a bundle, gate it, maybe promote it.

    Args:
        settings: Data directory and training settings.
        as_of: The run date.
        config: The training configuration (default: the daily retrain's).
        promote: Promote the bundle when it passes the gate.
        progress: Called after every epoch.
        truth: On a simulated world, builds its true affinities for the run's id maps (user
            ids, slot ids); the test players' lists are then also scored against them.
    """
    started = time.perf_counter()
    data = load_slotrec_data(settings, as_of)
    affinities = truth(data.user_ids, data.slot_ids) if truth is not None else None
    registry = PromotionRegistry(settings.layout.promoted_path)
    config = replace(
        config or slotrec_train_config(), max_seconds=settings.train_budget_minutes * 60
    )
    outcome = retrain(
        data,
        registry,
        model_store(settings),
        config,
        truth=affinities,
        promote=promote,
        progress=progress,
    )
    outcome.seconds = time.perf_counter() - started
    return outcome


def retrain(
    data: SlotrecData,
    registry: PromotionRegistry,
    store: Any,
    config: TrainConfig | None = None,
    *,
    truth: TrueAffinity | None = None,
    promote: bool = True,
    progress: Callable[[EpochStats], None] | None = None,
    eval_max_users: int | None = EVAL_MAX_USERS,
) -> TrainingOutcome:
    """Everything a daily retrain does once its data is loaded.

    Baselines and NeuMF (early stopping on validation) → evaluation → slot vectors and the
    metadata model → FAISS index → bundle in the BentoML store → gate → promotion. The time of
    each phase goes into the bundle's metrics under `timings_seconds`.

    Args:
        data: The split and everything the bundle needs besides the model.
        registry: Where the promoted bundle is recorded.
        store: The BentoML model store bundles are saved to (`model_store`).
        config: Training settings (default: `slotrec_train_config()`).
        truth: The simulator's hidden truth, for the extra evaluation on simulated worlds.
        promote: Promote the bundle when it passes the gate.
        progress: Per-epoch callback.
        eval_max_users: Evaluate on at most this many held-out users (see `evaluation_sample`).

    Returns:
        The bundle, the gate's decision and whether it was promoted.
    """
    started = time.perf_counter()
    config = fit_batch_size(config or slotrec_train_config(), len(data.split.train))
    result, metrics = train_and_evaluate(
        data.split,
        config,
        groups=data.groups,
        truth=truth,
        progress=progress,
        eval_max_users=eval_max_users,
    )
    timings = metrics["timings_seconds"]

    tick = time.perf_counter()
    assert isinstance(result.model, NeuMF)
    bundle = assemble_bundle(result.model, data, metrics, config)
    timings["index_and_metadata_model"] = round(time.perf_counter() - tick, 2)

    tick = time.perf_counter()
    bundle.save(store)
    # a bundle cannot hold the time it took to save itself: that goes into the outcome
    save_seconds = time.perf_counter() - tick

    current = registry.current
    promoted_metrics = Bundle.load(current, store).metrics if current else None
    decision = gate(metrics, promoted_metrics)
    if promote and decision.promote:
        registry.promote(str(bundle.version), decision.to_dict())
    log.info("bundle %s: %s (saved in %.1fs)", bundle.version, decision.reason, save_seconds)
    return TrainingOutcome(
        bundle=bundle,
        decision=decision,
        promoted=promote and decision.promote,
        seconds=time.perf_counter() - started,
        bundle_save_seconds=save_seconds,
    )
