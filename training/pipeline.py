"""The daily retrain: data → baselines + NeuMF → evaluation → index → bundle → gate → promote.

Every model is trained and evaluated on the same split in the same run, so the report's
"NeuMF vs baselines" numbers are like for like. The bundle is written to the BentoML store
whatever the gate says (it is evidence); only a bundle that passes the gate is promoted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from slotrec.settings import Settings
from training.baselines import EASE, ItemKNN, Popularity
from training.bundle import Bundle
from training.data import SlotrecData, load_slotrec_data
from training.evaluate import compare, evaluate_model
from training.index import SlotIndex
from training.metadata_model import MetadataEmbedder, evaluate_holdout
from training.model_store import use_model_store
from training.models import NeuMF
from training.promotion import GateDecision, PromotionRegistry, gate
from training.splits import ITEM, Split
from training.trainer import EpochStats, TrainConfig, graded_weight, train_model

log = logging.getLogger(__name__)


def slotrec_train_config(**overrides: Any) -> TrainConfig:
    """Training settings for slot plays: graded weights, early stopping on full NDCG@10."""
    defaults: dict[str, Any] = {
        "weight_fn": graded_weight,
        "epochs": 40,
        "patience": 5,
        "l2": 1e-4,
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
    models: dict[str, Any], split: Split, groups: dict[int, str] | None = None
) -> dict[str, Any]:
    """Validation (full ranking) and test (full + sampled) metrics of every model.

    Validation masks train; test masks train + validation, since by the test day the player
    has played both.
    """
    known_for_test = pd.concat([split.train, split.valid], ignore_index=True)
    # The NCF paper's 99 sampled negatives; a catalogue too small for that uses half of it.
    negatives = min(99, split.n_items // 2)
    out: dict[str, Any] = {
        "validation": {},
        "test": {"full": {}, "sampled": {}},
        "sampled_negatives": negatives,
    }
    for name, model in models.items():
        out["validation"][name] = evaluate_model(model, split.train, split.valid, split.n_items)
        out["test"]["full"][name] = evaluate_model(
            model, known_for_test, split.test, split.n_items, groups=groups
        )
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
    return out


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


@dataclass
class TrainingOutcome:
    """What one retrain produced and what the gate decided."""

    bundle: Bundle
    decision: GateDecision
    promoted: bool
    seconds: float

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
            "seconds": round(self.seconds, 1),
        }


def run_training(
    settings: Settings,
    as_of: date,
    config: TrainConfig | None = None,
    *,
    promote: bool = True,
    progress: Callable[[EpochStats], None] | None = None,
) -> TrainingOutcome:
    """Retrain on the warehouse as of `as_of`, write a bundle, gate it, maybe promote it."""
    started = time.perf_counter()
    use_model_store(settings)
    config = config or slotrec_train_config()
    data = load_slotrec_data(settings, as_of)
    split = data.split
    config = fit_batch_size(config, len(split.train))

    models = fit_baselines(split)
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
    metrics = evaluate_all(models, split, data.groups)
    metrics["training"] = {
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "samples_per_second": round(result.samples_per_second),
        "seconds": round(result.seconds, 2),
    }

    assert isinstance(result.model, NeuMF)
    vectors, metadata = slot_vectors(result.model, data)
    metrics["metadata_model"] = {k: v for k, v in metadata.items() if k != "checkpoint"}
    bundle = Bundle(
        model_checkpoint=result.model.to_checkpoint(),
        index=SlotIndex.build(vectors, data.slots["slot_id"].tolist()),
        user_ids=data.user_ids,
        slot_ids=data.slot_ids,
        popularity=data.popularity,
        metadata_model_checkpoint=metadata.get("checkpoint"),
        metrics=metrics,
        config=config.to_dict(),
        window=data.window,
    )
    bundle.save()

    registry = PromotionRegistry(settings.layout.promoted_path)
    current = registry.current
    promoted_metrics = Bundle.load(current).metrics if current else None
    decision = gate(metrics, promoted_metrics)
    if promote and decision.promote:
        registry.promote(str(bundle.version), decision.to_dict())
    log.info("bundle %s: %s", bundle.version, decision.reason)
    return TrainingOutcome(
        bundle=bundle,
        decision=decision,
        promoted=promote and decision.promote,
        seconds=time.perf_counter() - started,
    )
