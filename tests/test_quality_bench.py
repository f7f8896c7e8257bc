"""The quality benchmark: the simulated section on a tiny world (real dbt, Feast and truth), and
the leave-last-out section on a world where only the order of plays tells what comes next."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from benchmarks.quality_bench import (
    MODELS,
    QualityConfig,
    WorldConfig,
    run_quality,
    run_simulated_quality,
    tuned_neumf_config,
)
from tests.ring_world import SMALL_NEUMF, ring_plays
from training.pipeline import slotrec_train_config

HEADLINE = ("hr10_sampled", "ndcg10_sampled", "hr10_full", "ndcg10_full")
TRUTH = ("truth_ndcg10", "true_top50_share10")


@pytest.mark.slow
def test_simulated_section_has_every_model_with_truth_metrics(tmp_path: Path) -> None:
    world = WorldConfig(players=300, slots=40, days=6, seed=5)
    config = QualityConfig(
        neumf=slotrec_train_config(epochs=3, patience=0, batch_size=512, valid_window=1),
        ease_l2_grid=(50.0,),
        ease_recency_grid=(0.9,),  # read from the warehouse's datetime play times
        knn_k_grid=(10,),
        refit=False,
        seeds=2,
    )
    results, about = run_simulated_quality(tmp_path, world, config, log=lambda _: None)

    assert set(results) == {*MODELS, "ease_recency"}
    assert results["ease_recency"]["recency_decay"] == 0.9
    for name in results:
        for metric in HEADLINE + TRUTH:
            assert 0.0 <= results[name][metric] <= 1.0, (name, metric)
    # the truth is dense, so a list always has some true affinity: NDCG above zero
    assert min(results[name]["truth_ndcg10"] for name in results) > 0.0
    # NeuMF is the mean of its two seeds, and each baseline is compared against it
    neumf = results["neumf"]
    assert len(neumf["per_seed"]) == 2
    mean = sum(r["truth_ndcg10"] for r in neumf["per_seed"]) / 2
    assert neumf["truth_ndcg10"] == pytest.approx(mean)
    delta = results["ease"]["neumf_vs"]["truth_ndcg10"]["delta"]
    assert delta == pytest.approx(neumf["truth_ndcg10"] - results["ease"]["truth_ndcg10"])
    # the NDCG gaps come with a paired interval around them and a p-value
    for protocol in ("full", "sampled"):
        versus = results["ease"]["neumf_vs"][f"ndcg10_{protocol}"]
        low, high = versus["ci95"]
        assert low <= versus["delta"] <= high
        assert 0.0 < versus["p_value"] <= 1.0
    assert about["window"]["test_pairs"] > 0
    assert about["n_items"] >= world.slots


def test_order_aware_models_win_where_only_the_order_of_plays_tells() -> None:
    """Leave-last-out on players who walk a ring of items in order: the held-out item is the
    one after the last play. Sequence-order NeuMF and recency-weighted EASE see that; plain
    EASE only sees an unordered run of neighbours on the ring, with two candidates at its ends."""
    frame = ring_plays(users=300, items=30, plays=8, seed=4)
    neumf = dataclasses.replace(tuned_neumf_config(), **SMALL_NEUMF)
    config = QualityConfig(
        neumf=neumf, ease_l2_grid=(10.0,), ease_recency_grid=(0.5,), knn_k_grid=(5,), seeds=1
    )
    results = run_quality(frame, config)

    assert set(results) == {*MODELS, "ease_recency"}
    # plain EASE ranks the run's two ends first and second, in no particular order:
    # NDCG@10 about (1 + 1 / log2(3)) / 2 = 0.815
    assert results["ease"]["ndcg10_full"] < 0.85
    assert results["ease_recency"]["ndcg10_full"] >= 0.95
    assert results["neumf"]["ndcg10_full"] >= 0.95
    assert results["neumf"]["config"]["history_order"] == "sequence"
