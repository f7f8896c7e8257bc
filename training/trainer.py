"""Train GMF, MLP and NeuMF on implicit feedback, fast on a small CPU.

Each epoch pairs every observed interaction (label 1, weighted by the graded score) with
`negatives` sampled unplayed items (label 0), drawn for the whole epoch in one vectorised call.
The epoch lives in a handful of index tensors that batches slice as views: no DataLoader, no
per-sample Python.

Speed comes from treating embeddings as the sparse parameters they are. The trainer gathers
each batch's rows itself (`NCFModel.forward_embedded`), so backward yields gradients for those
rows only, and a row-wise optimiser updates just them: nothing touches the millions of rows a
batch did not use. The small dense tower and output layer use ordinary Adam. With batches of
tens of thousands of samples the per-batch Python overhead disappears too.

Early stopping watches validation NDCG@10 (full ranking by default), keeps the best weights
and restores them at the end.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from training.evaluate import Protocol, evaluate_model
from training.history import HistoryNeuMF, UserHistory
from training.models import NCFModel, build_model
from training.sampling import PositiveSet, SamplerKind, sample_negatives, sampler_probs
from training.splits import ITEM, TIME, USER, WEIGHT, time_order_key

logger = logging.getLogger(__name__)

WeightFn = Callable[[np.ndarray], np.ndarray]
ModelKind = Literal["gmf", "mlp", "neumf"]


def graded_weight(score: np.ndarray) -> np.ndarray:
    """Sample weight `0.5 + score` for a graded score in [0, 1] (slotrec's `normalized_score`).

    Every observed play counts at least half as much as the user's favourite slot, so a short
    play is still a positive, just a less confident one.
    """
    return 0.5 + np.asarray(score, dtype=np.float32)


@dataclass
class TrainConfig:
    """Everything that decides a training run. Defaults are the tuned MovieLens-100K setting.

    Attributes:
        gmf_dim: GMF embedding size (NeuMF and GMF).
        mlp_dim: MLP embedding size per side (NeuMF and MLP).
        layers: MLP hidden widths, bottom to top.
        dropout: Dropout after each MLP hidden layer.
        negatives: Sampled negatives per positive, per epoch.
        sampler: "uniform" or "popularity" (`count ** sampler_alpha`) negatives.
        sampler_alpha: Popularity exponent for the "popularity" sampler.
        batch_size: Samples per optimiser step.
        lr: Adam learning rate of the dense layers.
        embedding_lr: Learning rate of the row-wise embedding optimiser.
        l2: L2 penalty on the embedding rows a batch uses (per occurrence).
        epochs: Upper bound on epochs.
        patience: Validation checks without improvement before stopping; 0 disables.
        max_seconds: Time budget of the run (sampling, steps and validation); when it is spent
            the current epoch ends early, is validated, and training stops with the best
            checkpoint so far. None: no budget.
        eval_every: Epochs between validation checks.
        seed: Seeds initialisation, sampling and shuffling.
        weight_fn: Maps the `weight` column to positive sample weights; None uses it as is
            (1 for data without a graded score). `graded_weight` suits slotrec's scores.
        negative_weight: Weight of every sampled negative.
        valid_protocol: "full" or "sampled" ranking for validation.
        valid_max_users: Validate on at most this many users (a fixed random subset).
        valid_window: Early stopping and the best epoch follow the mean of the last this many
            validation checks (1 = the raw score).
        num_threads: Torch intra-op threads while training; None leaves the setting alone.
        device: Torch device; the trainer is written for and tested on "cpu".
        user_history: NeuMF's user vectors add the pooled vectors of the user's own training
            items (`training.history.HistoryNeuMF`); the trained model is baked back into a
            plain NeuMF, so nothing downstream changes.
        history_alpha: Length normalisation of the pooling (`|history| ** -alpha`).
        history_lr: Adam learning rate of the history item tables.
        history_dropout: Share of history items dropped per training step.
        max_history: Items pooled per user at most (profile order: the heaviest ones;
            sequence order: the most recent ones).
        history_order: "profile" pools each user's whole (capped) window for every positive;
            "sequence" pools, for each positive, only the slots played before it, recency
            weighted, and scores with the most recent ones (`training.history.UserHistory`).
            The sequence order needs a `timestamp` column.
        history_decay: Sequence order: weight of a slot `s` steps before the newest pooled
            one, `history_decay ** s` (1 = all count the same).
    """

    gmf_dim: int = 32
    mlp_dim: int = 16
    layers: tuple[int, ...] = (32, 16, 8)
    dropout: float = 0.0
    negatives: int = 6
    sampler: SamplerKind = "uniform"
    sampler_alpha: float = 0.75
    batch_size: int = 16_384
    lr: float = 0.005
    embedding_lr: float = 0.03
    embedding_optimizer: Literal["adagrad", "adam"] = "adagrad"
    l2: float = 0.0
    lr_decay: float = 1.0
    epochs: int = 100
    patience: int = 10
    max_seconds: float | None = None
    eval_every: int = 1
    seed: int = 2024
    weight_fn: WeightFn | None = None
    negative_weight: float = 1.0
    valid_protocol: Protocol = "full"
    valid_max_users: int | None = 5_000
    valid_window: int = 5
    num_threads: int | None = 2
    device: str = "cpu"
    user_history: bool = False
    history_alpha: float = 0.5
    history_lr: float = 0.05
    history_dropout: float = 0.0
    max_history: int = 64
    history_order: Literal["profile", "sequence"] = "profile"
    history_decay: float = 1.0

    def model_args(self, kind: str) -> dict[str, Any]:
        """Constructor arguments for a model kind, taken from this config."""
        if kind == "gmf":
            return {"dim": self.gmf_dim}
        if kind == "mlp":
            return {"dim": self.mlp_dim, "layers": self.layers, "dropout": self.dropout}
        args: dict[str, Any] = {
            "gmf_dim": self.gmf_dim,
            "mlp_dim": self.mlp_dim,
            "layers": self.layers,
            "dropout": self.dropout,
        }
        if kind == "neumf" and self.user_history:
            args["alpha"] = self.history_alpha
            args["history_dropout"] = self.history_dropout
        return args

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view (the weight function by name)."""
        out = asdict(self)
        out["weight_fn"] = getattr(self.weight_fn, "__name__", None)
        out["layers"] = list(self.layers)
        return out


@dataclass
class EpochStats:
    """One epoch's progress, passed to the `progress` callback and kept in the history."""

    epoch: int
    loss: float
    samples: int
    seconds: float
    samples_per_second: float
    valid: dict[str, Any] | None = None


@dataclass
class TrainResult:
    """A trained model (best validation epoch restored) and how it got there."""

    model: NCFModel
    history: list[EpochStats] = field(default_factory=list)
    best_epoch: int = 0
    best_metric: float = float("-inf")
    seconds: float = 0.0
    train_seconds: float = 0.0
    samples: int = 0
    stopped_by: str | None = None  # "patience", "time budget", or None: all epochs ran

    @property
    def samples_per_second(self) -> float:
        """Training throughput: samples over time spent sampling, shuffling and stepping."""
        return self.samples / self.train_seconds if self.train_seconds else 0.0


class RowAdagrad:
    """Row-wise Adagrad for embedding tables: one accumulator per row, only used rows move.

    Each row keeps the running sum of its mean squared gradient, the usual choice for large
    sparse embedding tables (one float of state per row rather than Adam's two per weight).
    Gradients arrive per sample (a row used three times in a batch gets three updates),
    which `index_add_` applies without the sort that coalescing would cost.
    """

    def __init__(self, table: torch.Tensor, lr: float, eps: float = 1e-8) -> None:
        """Attach to one table `[rows, dim]`."""
        self.table, self.lr, self.eps = table, lr, eps
        self.state = torch.zeros(table.shape[0])  # [rows]

    @torch.no_grad()
    def step(self, index: torch.Tensor, grad: torch.Tensor) -> None:
        """Apply per-sample gradients `grad` `[batch, dim]` to rows `index` `[batch]`."""
        # mean square per sample as norm² / dim: one pass over the gradient instead of two
        mean_square = torch.linalg.vector_norm(grad, dim=1).square_().div_(grad.shape[1])
        self.state.index_add_(0, index, mean_square)
        scale = self.state.index_select(0, index).add_(self.eps).rsqrt_().mul_(-self.lr)
        self.table.index_add_(0, index, grad.mul_(scale[:, None]))


class RowAdam:
    """Lazy Adam for embedding tables: Adam moments per weight, updated only for used rows.

    Per-sample gradients are summed per unique row first (Adam is not additive the way
    Adagrad's accumulator is), with a per-row step count for the bias correction, as
    `torch.optim.SparseAdam` does.
    """

    def __init__(
        self,
        table: torch.Tensor,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        """Attach to one table `[rows, dim]`."""
        self.table, self.lr, self.eps = table, lr, eps
        self.beta1, self.beta2 = betas
        self.exp_avg = torch.zeros_like(table)
        self.exp_avg_sq = torch.zeros_like(table)
        self.steps = torch.zeros(table.shape[0])  # [rows]

    @torch.no_grad()
    def step(self, index: torch.Tensor, grad: torch.Tensor) -> None:
        """Apply per-sample gradients `grad` `[batch, dim]` to rows `index` `[batch]`."""
        rows, inverse = torch.unique(index, return_inverse=True)
        summed = torch.zeros(len(rows), grad.shape[1]).index_add_(0, inverse, grad)
        m = self.exp_avg.index_select(0, rows).mul_(self.beta1).add_(summed, alpha=1 - self.beta1)
        v = self.exp_avg_sq.index_select(0, rows).mul_(self.beta2)
        v.addcmul_(summed, summed, value=1 - self.beta2)
        self.exp_avg.index_copy_(0, rows, m)
        self.exp_avg_sq.index_copy_(0, rows, v)
        t = self.steps.index_select(0, rows).add_(1)
        self.steps.index_copy_(0, rows, t)
        # per-row bias correction: lr * sqrt(1 - b2^t) / (1 - b1^t)
        step_size = (1 - self.beta2**t).sqrt_().div_(1 - self.beta1**t).mul_(-self.lr)
        update = m.div_(v.sqrt_().add_(self.eps)).mul_(step_size[:, None])
        self.table.index_add_(0, rows, update)


def _positive_weights(train: pd.DataFrame, config: TrainConfig) -> np.ndarray:
    raw = train[WEIGHT].to_numpy(np.float32) if WEIGHT in train else np.ones(len(train))
    weights = raw if config.weight_fn is None else config.weight_fn(raw)
    return np.asarray(weights, dtype=np.float32)


@dataclass
class Epoch:
    """One epoch's samples, grouped by positive: row r is one positive and its negatives.

    Attributes:
        users: Shuffled positive users `[n_pos]`; every sample in row r belongs to `users[r]`.
        items: `[n_pos, 1 + negatives]`: column 0 the played item, the rest sampled negatives.
        weights: Sample weights `[n_pos, 1 + negatives]`.
        rows: The training row each positive comes from `[n_pos]` (a sequence-order history
            model pools the slots played before that row).
    """

    users: torch.Tensor
    items: torch.Tensor
    weights: torch.Tensor
    rows: torch.Tensor

    def __len__(self) -> int:
        return self.items.numel()


class EpochBuilder:
    """Builds one epoch of samples in a few vectorised numpy calls.

    Only the positives are shuffled; each positive's negatives are drawn fresh for it and
    travel in its row. Batches are therefore as random as a full shuffle of all samples would
    make them, and the user of a row is gathered and updated once per row instead of once per
    sample, which divides the user-side work by `1 + negatives`.
    """

    def __init__(self, train: pd.DataFrame, n_items: int, config: TrainConfig) -> None:
        """Index the training positives once."""
        self.users = train[USER].to_numpy(np.int64)
        self.items = train[ITEM].to_numpy(np.int64)
        self.weights = _positive_weights(train, config)
        self.n_items = n_items
        self.negatives = config.negatives
        self.negative_weight = config.negative_weight
        self.positives = PositiveSet(self.users, self.items, n_items)
        self.probs = sampler_probs(config.sampler, self.items, n_items, config.sampler_alpha)

    def build(self, rng: np.random.Generator) -> Epoch:
        """A freshly shuffled epoch with freshly drawn negatives."""
        order = rng.permutation(len(self.users))
        users = self.users[order]
        width = 1 + self.negatives
        items = np.empty((len(users), width), np.int64)  # [n_pos, 1 + negatives]
        items[:, 0] = self.items[order]
        items[:, 1:] = sample_negatives(
            np.repeat(users, self.negatives),
            self.n_items,
            rng,
            positives=self.positives,
            probs=self.probs,
        ).reshape(len(users), self.negatives)
        weights = np.full((len(users), width), self.negative_weight, np.float32)
        weights[:, 0] = self.weights[order]
        return Epoch(
            torch.from_numpy(users),
            torch.from_numpy(items),
            torch.from_numpy(weights),
            torch.from_numpy(order),
        )


def _batches(
    epoch: Epoch, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """`(users [rows], items, labels, weights [rows, 1 + negatives], training rows)` per step."""
    width = epoch.items.shape[1]
    rows = max(1, batch_size // width)  # positives per step, each with its negatives
    labels = torch.zeros(rows, width)
    labels[:, 0] = 1.0
    for start in range(0, len(epoch.users), rows):
        part = slice(start, start + rows)
        users = epoch.users[part]
        yield users, epoch.items[part], labels[: len(users)], epoch.weights[part], epoch.rows[part]


class _Stepper:
    """One optimiser step on a batch: gather rows, forward, backward, sparse + dense update."""

    def __init__(self, model: NCFModel, config: TrainConfig) -> None:
        self.model = model
        self.tables = [(table.weight, side) for table, side in model.embedding_tables()]
        for weight, _ in self.tables:
            weight.requires_grad_(False)  # updated by the row-wise optimiser, never by autograd
        row_opt = RowAdam if config.embedding_optimizer == "adam" else RowAdagrad
        self.row_opts = [row_opt(w.data, config.embedding_lr) for w, _ in self.tables]
        # a history model's item tables are dense (every step touches many rows through the
        # pooling) but need their own, larger step than the tower
        history = model.history_parameters()
        special = {id(p) for p in history}
        dense = [p for p in model.parameters() if p.requires_grad and id(p) not in special]
        groups: list[dict[str, Any]] = [{"params": dense}]
        if history:
            groups.append({"params": history, "lr": config.history_lr})
        # the fused kernel does the whole Adam update of all dense tensors in one pass
        self.dense_opt = torch.optim.Adam(groups, lr=config.lr, fused=True)
        self.l2 = config.l2

    def decay(self, factor: float) -> None:
        """Multiply every learning rate by `factor` (once per epoch)."""
        for opt in self.row_opts:
            opt.lr *= factor
        for group in self.dense_opt.param_groups:
            group["lr"] *= factor

    def __call__(
        self,
        users: torch.Tensor,
        items: torch.Tensor,
        labels: torch.Tensor,
        weights: torch.Tensor,
        positions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        n_rows, width = items.shape
        flat_items = items.reshape(-1)
        index = {"user": users, "item": flat_items}
        # user rows [rows, 1, dim] broadcast against item rows [rows, width, dim] in the model
        shape = {"user": (n_rows, 1, -1), "item": (n_rows, width, -1)}
        leaves = [
            weight.index_select(0, index[side]).requires_grad_() for weight, side in self.tables
        ]
        rows = [leaf.view(shape[side]) for leaf, (_, side) in zip(leaves, self.tables, strict=True)]
        logits = self.model.training_logits(rows, users, items, positions)  # [rows, width]
        loss = F.binary_cross_entropy_with_logits(logits, labels, weight=weights)
        self.dense_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.dense_opt.step()
        for (_, side), opt, leaf in zip(self.tables, self.row_opts, leaves, strict=True):
            grad = leaf.grad
            assert grad is not None
            if self.l2:
                # per-occurrence penalty, scaled like the batch-mean loss's gradients; a user
                # row stands for `width` samples
                uses = width if side == "user" else 1
                grad.add_(leaf.detach(), alpha=self.l2 * uses / logits.numel())
            opt.step(index[side], grad)
        return loss.detach()


def _validation_users(valid: pd.DataFrame, limit: int | None, seed: int) -> pd.DataFrame:
    users = np.unique(valid[USER].to_numpy())
    if limit is None or len(users) <= limit:
        return valid
    keep = np.random.default_rng(seed).choice(users, size=limit, replace=False)
    return valid[valid[USER].isin(keep)]


def train_model(
    kind: ModelKind,
    train: pd.DataFrame,
    valid: pd.DataFrame | None,
    config: TrainConfig,
    *,
    n_users: int | None = None,
    n_items: int | None = None,
    init: NCFModel | None = None,
    progress: Callable[[EpochStats], None] | None = None,
) -> TrainResult:
    """Train one model with negative sampling and early stopping on validation NDCG@10.

    Args:
        kind: "gmf", "mlp" or "neumf".
        train: Canonical training interactions (`user_idx`, `item_idx`, `weight`).
        valid: Held-out interactions for early stopping; None trains for `config.epochs`.
        config: Hyperparameters.
        n_users: Size of the user index space (default: max index + 1 in train/valid).
        n_items: Size of the item index space (default: max index + 1 in train/valid).
        init: A model to continue from instead of a fresh one (e.g. NeuMF after
            `load_pretrained`); it is trained in place.
        progress: Called after every epoch with its `EpochStats` (also logged at INFO).

    Returns:
        The model with its best validation weights restored, the per-epoch history and timings.
    """
    frames = [train] if valid is None else [train, valid]
    n_users = n_users or int(max(f[USER].max() for f in frames)) + 1
    n_items = n_items or int(max(f[ITEM].max() for f in frames)) + 1
    previous_threads = torch.get_num_threads()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    try:
        torch.manual_seed(config.seed)
        args = config.model_args(kind)
        if init is not None:
            model = init
        elif kind == "neumf" and config.user_history:
            model = HistoryNeuMF(n_users, n_items, **args).set_history(
                _user_history(train, n_users, n_items, config)
            )
        else:
            model = build_model(kind, n_users, n_items, **args)
        return _fit(model, train, valid, n_items, config, progress)
    finally:
        torch.set_num_threads(previous_threads)


def _user_history(
    train: pd.DataFrame, n_users: int, n_items: int, config: TrainConfig
) -> UserHistory:
    """The history model's pooled slots, in `config.history_order`."""
    if config.history_order == "profile":
        weights = _positive_weights(train, config)
        users, items = train[USER].to_numpy(), train[ITEM].to_numpy()
        return UserHistory(users, items, weights, n_users, n_items, config.max_history)
    if config.history_order != "sequence":
        raise ValueError(
            f"history_order must be 'profile' or 'sequence', got {config.history_order!r}"
        )
    if TIME not in train:
        raise ValueError(
            f"history_order='sequence' orders each player's slots by time, but the training "
            f"interactions have no {TIME!r} column"
        )
    return UserHistory.sequence(
        train[USER].to_numpy(),
        train[ITEM].to_numpy(),
        time_order_key(train[TIME]),
        n_users,
        config.max_history,
        config.history_decay,
    )


def _fit(
    model: NCFModel,
    train: pd.DataFrame,
    valid: pd.DataFrame | None,
    n_items: int,
    config: TrainConfig,
    progress: Callable[[EpochStats], None] | None,
) -> TrainResult:
    started = time.perf_counter()
    history = model.history if isinstance(model, HistoryNeuMF) else None
    if history is not None and history.row_end is not None and len(history.row_end) != len(train):
        # the sequence order finds each positive's window by its row in `train`
        raise ValueError(
            f"the model's sequence-order history indexes {len(history.row_end)} training rows, "
            f"but {len(train)} were given: build the history from the frame it trains on"
        )
    rng = np.random.default_rng(config.seed)
    epochs = EpochBuilder(train, n_items, config)
    step = _Stepper(model, config)
    valid_sample = (
        None if valid is None else _validation_users(valid, config.valid_max_users, config.seed)
    )
    result = TrainResult(model=model)
    deadline = None if config.max_seconds is None else started + config.max_seconds
    best_state: dict[str, torch.Tensor] | None = None
    scores: list[float] = []
    stale = 0
    model.train()
    for epoch in range(1, config.epochs + 1):
        tick = time.perf_counter()
        samples = epochs.build(rng)
        total = torch.zeros(())
        n = 0
        for batch in _batches(samples, config.batch_size):
            total += step(*batch) * batch[1].numel()
            n += batch[1].numel()
            if deadline is not None and time.perf_counter() >= deadline:
                # a partial epoch still counts: it is validated below like a whole one
                result.stopped_by = "time budget"
                break
        seconds = time.perf_counter() - tick
        result.train_seconds += seconds
        result.samples += n
        stats = EpochStats(epoch, float(total) / n, n, seconds, n / seconds)
        if valid_sample is not None and epoch % config.eval_every == 0:
            stats.valid = evaluate_model(
                model, train, valid_sample, n_items, protocol=config.valid_protocol
            )
            scores.append(stats.valid["ndcg10"])
            # NDCG on a few thousand held-out items jumps from check to check; the mean of the
            # last `valid_window` checks picks an epoch that is good, not merely lucky
            metric = float(np.mean(scores[-config.valid_window :]))
            if metric > result.best_metric:
                result.best_metric, result.best_epoch, stale = metric, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                stale += 1
        result.history.append(stats)
        step.decay(config.lr_decay)
        _report(stats, progress)
        if not math.isfinite(stats.loss):
            raise FloatingPointError(f"training loss became {stats.loss} at epoch {epoch}")
        if config.patience and stale >= config.patience:
            result.stopped_by = "patience"
        if result.stopped_by:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        result.best_epoch = len(result.history)
    model.eval()
    if isinstance(model, HistoryNeuMF):
        # downstream (bundle, serving, evaluation) sees a plain NeuMF with the same scores
        result.model = model.bake()
    result.seconds = time.perf_counter() - started
    return result


def _report(stats: EpochStats, progress: Callable[[EpochStats], None] | None) -> None:
    valid = ""
    if stats.valid is not None:
        valid = f" valid ndcg10={stats.valid['ndcg10']:.4f} hr10={stats.valid['hr10']:.4f}"
    logger.info(
        "epoch %d loss=%.4f %.0f samples/s%s",
        stats.epoch,
        stats.loss,
        stats.samples_per_second,
        valid,
    )
    if progress is not None:
        progress(stats)
