"""NCF models and their trainer: checkpoints, the GMF vectors, learning, early stopping."""

from __future__ import annotations

import copy
import io
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from training import trainer
from training.evaluate import evaluate_model
from training.models import GMF, MLP, NCFModel, NeuMF, build_model
from training.trainer import EpochStats, RowAdam, TrainConfig, train_model

N_USERS, N_ITEMS = 12, 9


def fresh(kind: str) -> NCFModel:
    torch.manual_seed(0)
    model = build_model(kind, N_USERS, N_ITEMS, **TrainConfig(layers=(8, 4)).model_args(kind))
    # move every weight off its init so a broken load could not pass by accident
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    return model.eval()


@pytest.mark.parametrize("kind", ["gmf", "mlp", "neumf"])
def test_checkpoint_round_trip_gives_identical_scores(kind: str) -> None:
    model = fresh(kind)
    buffer = io.BytesIO()
    torch.save(model.to_checkpoint(), buffer)
    buffer.seek(0)
    loaded = NCFModel.from_checkpoint(torch.load(buffer, weights_only=False))
    assert type(loaded) is type(model)
    users = torch.arange(N_USERS)
    with torch.no_grad():
        assert torch.equal(model.score_all(users), loaded.score_all(users))


@pytest.mark.parametrize("kind", ["gmf", "mlp", "neumf"])
def test_score_all_matches_pairwise_scores(kind: str) -> None:
    model = fresh(kind)
    users = torch.arange(N_USERS).repeat_interleave(N_ITEMS)
    items = torch.arange(N_ITEMS).repeat(N_USERS)
    with torch.no_grad():
        pairwise = model.score(users, items).view(N_USERS, N_ITEMS)
        torch.testing.assert_close(model.score_all(torch.arange(N_USERS)), pairwise)


@pytest.mark.parametrize("kind", ["gmf", "mlp", "neumf"])
def test_grouped_rows_broadcast_like_aligned_pairs(kind: str) -> None:
    # The trainer passes one user row per positive against [positive + negatives] item rows.
    model = fresh(kind)
    users = torch.tensor([0, 5, 11])
    items = torch.tensor([[1, 2, 3, 4], [0, 8, 7, 6], [5, 5, 2, 1]])
    index = {"user": users, "item": items.reshape(-1)}
    shape = {"user": (3, 1, -1), "item": (3, 4, -1)}
    rows = [t(index[side]).view(shape[side]) for t, side in model.embedding_tables()]
    with torch.no_grad():
        grouped = model.forward_embedded(rows)
        aligned = model.score(users.repeat_interleave(4), items.reshape(-1)).view(3, 4)
    torch.testing.assert_close(grouped, aligned)


def test_gmf_inner_product_equals_the_gmf_part() -> None:
    neumf = fresh("neumf")
    assert isinstance(neumf, NeuMF)
    users = torch.tensor([0, 3, 7, 11])
    items = torch.tensor([8, 1, 4, 0])
    with torch.no_grad():
        dots = (neumf.user_embeddings(users) * neumf.item_embeddings()[items]).sum(1)
        torch.testing.assert_close(dots, neumf.gmf_part(users, items))
        # the full user table gives the same vectors
        torch.testing.assert_close(neumf.user_embeddings()[users], neumf.user_embeddings(users))
    gmf = fresh("gmf")
    assert isinstance(gmf, GMF)
    with torch.no_grad():
        dots = (gmf.user_embeddings(users) * gmf.item_embeddings()[items]).sum(1)
        torch.testing.assert_close(dots + gmf.out.bias, gmf.score(users, items))


def test_neumf_from_pretrained_blends_the_two_logits() -> None:
    gmf, mlp = fresh("gmf"), fresh("mlp")
    assert isinstance(gmf, GMF) and isinstance(mlp, MLP)
    neumf = NeuMF(N_USERS, N_ITEMS, gmf_dim=gmf.dim, mlp_dim=mlp.dim, layers=mlp.layers)
    neumf.load_pretrained(gmf, mlp, alpha=0.3)
    users = torch.arange(N_USERS)
    with torch.no_grad():
        expected = 0.3 * gmf.score_all(users) + 0.7 * mlp.score_all(users)
        torch.testing.assert_close(neumf.score_all(users), expected)


def test_row_adam_matches_torch_adam_when_every_row_is_used() -> None:
    torch.manual_seed(0)
    table = torch.randn(5, 3)
    reference = table.clone().requires_grad_()
    adam = torch.optim.Adam([reference], lr=0.1)
    lazy = RowAdam(table, lr=0.1)
    for _ in range(3):
        index = torch.tensor([4, 0, 1, 2, 3, 0])  # row 0 twice: gradients must be summed
        grad = torch.randn(6, 3)
        dense = torch.zeros(5, 3).index_add_(0, index, grad)
        reference.grad = dense
        adam.step()
        lazy.step(index, grad.clone())
    torch.testing.assert_close(table, reference.detach())


def two_taste_world(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Users 0-39 play only items 0-19, users 40-79 only items 20-39; one play each held out."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(80):
        group = np.arange(20) if user < 40 else np.arange(20, 40)
        for item in rng.choice(group, 8, replace=False):
            rows.append((user, int(item)))
    frame = pd.DataFrame(rows, columns=["user_idx", "item_idx"])
    frame["weight"] = 1.0
    valid = frame.groupby("user_idx").tail(1)
    return frame.drop(valid.index), valid


def test_neumf_learns_two_disjoint_tastes_quickly() -> None:
    train, valid = two_taste_world()
    config = TrainConfig(
        gmf_dim=8,
        mlp_dim=8,
        layers=(16, 8),
        batch_size=512,
        epochs=20,
        patience=0,
        lr=0.01,
        embedding_lr=0.1,
        num_threads=1,
        seed=1,
    )
    result = train_model("neumf", train, None, config, n_users=80, n_items=40)
    assert result.seconds < 15
    with torch.no_grad():
        scores = result.model.score_all(torch.arange(80))
    played = torch.zeros(80, 40, dtype=torch.bool)
    played[train.user_idx.to_numpy(), train.item_idx.to_numpy()] = True
    own = torch.zeros(80, 40, dtype=torch.bool)
    own[:40, :20] = True
    own[40:, 20:] = True
    # Among the items a user has not played, their own group's 13 come first: the model never
    # saw those pairs, so this is generalisation from the group structure, not memory.
    ranked = torch.where(played, -torch.inf, scores).argsort(1, descending=True)[:, :13]
    precision = own.gather(1, ranked).float().mean()
    assert precision >= 0.9
    report = evaluate_model(result.model, train, valid, 40, protocol="full", k=13)
    assert report["hr13"] >= 0.9


def test_training_reports_progress_and_throughput() -> None:
    train, valid = two_taste_world()
    seen: list[EpochStats] = []
    config = TrainConfig(
        gmf_dim=4, mlp_dim=4, layers=(8, 4), batch_size=64, epochs=3, patience=0, num_threads=1
    )
    result = train_model("neumf", train, valid, config, progress=seen.append)
    assert [s.epoch for s in seen] == [1, 2, 3]
    assert all(s.valid is not None and "ndcg10" in s.valid for s in seen)
    assert result.samples == 3 * len(train) * (1 + config.negatives)
    assert result.samples_per_second > 0
    assert result.history == seen


def test_early_stopping_restores_the_best_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    train, valid = two_taste_world()
    scripted = iter([0.1, 0.3, 0.2, 0.25, 0.05, 0.9])  # best at epoch 2, then 3 worse checks
    monkeypatch.setattr(
        trainer, "evaluate_model", lambda *a, **k: {"ndcg10": next(scripted), "hr10": 0.0}
    )
    snapshots: dict[int, dict[str, Any]] = {}

    def keep(stats: EpochStats) -> None:
        snapshots[stats.epoch] = copy.deepcopy(result_holder["model"].state_dict())

    result_holder: dict[str, Any] = {}
    config = TrainConfig(
        gmf_dim=4,
        mlp_dim=4,
        layers=(8, 4),
        batch_size=64,
        epochs=10,
        patience=3,
        num_threads=1,
        valid_window=1,
    )
    model = build_model("neumf", 80, 40, **config.model_args("neumf"))
    result_holder["model"] = model
    result = train_model("neumf", train, valid, config, init=model, progress=keep)
    assert result.best_epoch == 2
    assert result.best_metric == 0.3
    assert len(result.history) == 5  # stopped after three checks without improvement
    for name, value in result.model.state_dict().items():
        assert torch.equal(value, snapshots[2][name]), name
    assert not torch.equal(snapshots[5]["out.weight"], snapshots[2]["out.weight"])


def test_best_epoch_follows_the_smoothed_validation_curve(monkeypatch: pytest.MonkeyPatch) -> None:
    train, valid = two_taste_world()
    # raw best is epoch 2 (0.6), a spike; the mean of three checks peaks at epoch 6
    scripted = iter([0.2, 0.6, 0.1, 0.45, 0.45, 0.45, 0.0, 0.0, 0.0, 0.0])
    monkeypatch.setattr(
        trainer, "evaluate_model", lambda *a, **k: {"ndcg10": next(scripted), "hr10": 0.0}
    )
    config = TrainConfig(
        gmf_dim=4,
        mlp_dim=4,
        layers=(8, 4),
        batch_size=64,
        epochs=10,
        patience=4,
        num_threads=1,
        valid_window=3,
    )
    result = train_model("neumf", train, valid, config)
    assert result.best_epoch == 6
    assert result.best_metric == pytest.approx(0.45)
    assert len(result.history) == 10


def test_same_seed_same_model() -> None:
    train, _ = two_taste_world()
    config = TrainConfig(
        gmf_dim=4, mlp_dim=4, layers=(8, 4), batch_size=64, epochs=2, patience=0, num_threads=1
    )
    a = train_model("neumf", train, None, config, n_users=80, n_items=40).model
    b = train_model("neumf", train, None, config, n_users=80, n_items=40).model
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name


def test_time_budget_ends_the_run_mid_epoch_and_keeps_the_validated_model() -> None:
    train, valid = two_taste_world()
    config = TrainConfig(
        gmf_dim=4,
        mlp_dim=4,
        layers=(8, 4),
        batch_size=64,
        epochs=50,
        patience=0,
        num_threads=1,
        max_seconds=0.0,  # spent after the first step
    )
    result = train_model("neumf", train, valid, config)
    assert result.stopped_by == "time budget"
    assert len(result.history) == 1 and result.best_epoch == 1
    assert result.samples == 64 // (1 + config.negatives) * (1 + config.negatives)
    assert result.history[0].valid is not None  # the partial epoch was validated


def test_patience_is_named_as_the_reason_to_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    train, valid = two_taste_world()
    monkeypatch.setattr(trainer, "evaluate_model", lambda *a, **k: {"ndcg10": 0.5, "hr10": 0.5})
    config = TrainConfig(
        gmf_dim=4, mlp_dim=4, layers=(8, 4), epochs=20, patience=2, valid_window=1, num_threads=1
    )
    result = train_model("neumf", train, valid, config)
    assert result.stopped_by == "patience"
    assert len(result.history) == 3  # the best at epoch 1, then two checks without a gain
