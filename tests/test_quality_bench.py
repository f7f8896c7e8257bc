"""The quality benchmark's simulated section on a tiny world: real dbt, Feast and truth."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.quality_bench import MODELS, QualityConfig, WorldConfig, run_simulated_quality
from training.pipeline import slotrec_train_config

pytestmark = pytest.mark.slow

HEADLINE = ("hr10_sampled", "ndcg10_sampled", "hr10_full", "ndcg10_full")
TRUTH = ("truth_ndcg10", "true_top50_share10")


def test_simulated_section_has_every_model_with_truth_metrics(tmp_path: Path) -> None:
    world = WorldConfig(players=300, slots=40, days=6, seed=5)
    config = QualityConfig(
        neumf=slotrec_train_config(epochs=3, patience=0, batch_size=512, valid_window=1),
        ease_l2_grid=(50.0,),
        knn_k_grid=(10,),
        refit=False,
        seeds=2,
    )
    results, about = run_simulated_quality(tmp_path, world, config, log=lambda _: None)

    assert set(results) == set(MODELS)
    for name in MODELS:
        for metric in HEADLINE + TRUTH:
            assert 0.0 <= results[name][metric] <= 1.0, (name, metric)
    # the truth is dense, so a list always has some true affinity: NDCG above zero
    assert min(results[name]["truth_ndcg10"] for name in MODELS) > 0.0
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
