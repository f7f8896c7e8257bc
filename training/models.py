"""Neural Collaborative Filtering models (He et al., 2017): GMF, MLP and NeuMF.

All three output a logit per (user, item) pair; a sigmoid of it is the predicted probability
that the user plays the item. Each model saves and loads itself (`to_checkpoint` /
`from_checkpoint`: constructor args + state_dict), scores pairs (`score`) and whole catalogues
(`score_all`, for full ranking), and exposes the GMF half as plain vectors: the GMF logit is
`user_embeddings()[u] · item_embeddings()[i]`, so a FAISS inner-product index over the item
vectors retrieves candidates for a user query vector.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

Side = Literal["user", "item"]


def _mlp_tower(in_dim: int, layers: tuple[int, ...], dropout: float) -> nn.Sequential:
    blocks: list[nn.Module] = []
    for width in layers:
        blocks += [nn.Linear(in_dim, width), nn.ReLU()]
        if dropout > 0:
            blocks.append(nn.Dropout(dropout))
        in_dim = width
    return nn.Sequential(*blocks)


class NCFModel(nn.Module):
    """Shared plumbing: checkpoints, whole-catalogue scoring, and the GMF vectors."""

    kind: ClassVar[str] = ""
    n_users: int
    n_items: int

    def args(self) -> dict[str, Any]:
        """Constructor arguments, enough to rebuild the model before loading its weights."""
        raise NotImplementedError

    def embedding_tables(self) -> list[tuple[nn.Embedding, Side]]:
        """Every embedding table with the side that indexes it, in `forward_embedded` order."""
        raise NotImplementedError

    def forward_embedded(self, rows: list[torch.Tensor]) -> torch.Tensor:
        """Logits from already-gathered embedding rows, one tensor per table.

        Rows are aligned `[batch, dim]` tensors, or broadcastable ones: the trainer passes user
        rows `[n, 1, dim]` against item rows `[n, k, dim]` (a positive and its negatives share
        their user) and gets logits `[n, k]`. It gathers the rows itself so it can update only
        the rows a batch touched.
        """
        raise NotImplementedError

    def with_history(
        self,
        rows: list[torch.Tensor],
        users: torch.Tensor,
        items: torch.Tensor,
        positions: torch.Tensor | None = None,
    ) -> list[torch.Tensor]:
        """Training rows adjusted by the users' histories; models without one return `rows`.

        `positions` are the training rows the batch's positives come from.
        """
        return rows

    def training_logits(
        self,
        rows: list[torch.Tensor],
        users: torch.Tensor,
        items: torch.Tensor,
        positions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits `[n, width]` of a training batch: `forward_embedded(with_history(...))`.

        Models may compute the same numbers faster (the history model does).
        """
        return self.forward_embedded(self.with_history(rows, users, items, positions))

    def history_parameters(self) -> list[nn.Parameter]:
        """Dense tables that pool user histories (trained with their own step); none here."""
        return []

    def forward(self, user_idx: torch.Tensor, item_idx: torch.Tensor) -> torch.Tensor:
        """Logits `[batch]` for pairs `user_idx[b]`, `item_idx[b]`."""
        index = {"user": user_idx, "item": item_idx}
        return self.forward_embedded(
            [table(index[side]) for table, side in self.embedding_tables()]
        )

    def score(self, user_idx: torch.Tensor, item_idx: torch.Tensor) -> torch.Tensor:
        """Logits `[batch]` for (user, item) pairs; higher ranks first."""
        return self.forward(user_idx, item_idx)

    def score_all(self, user_idx: torch.Tensor) -> torch.Tensor:
        """Logits `[batch, n_items]` of every item for each user, for full ranking."""
        users = torch.as_tensor(user_idx, dtype=torch.long)
        items = torch.arange(self.n_items)
        pair_users = users.repeat_interleave(self.n_items)  # [batch * n_items]
        pair_items = items.repeat(len(users))
        return self.forward(pair_users, pair_items).view(len(users), self.n_items)

    def to_checkpoint(self) -> dict[str, Any]:
        """`{"kind", "args", "state_dict"}`; `torch.save` it, or put it in a model bundle."""
        return {"kind": self.kind, "args": self.args(), "state_dict": self.state_dict()}

    @staticmethod
    def from_checkpoint(checkpoint: dict[str, Any]) -> NCFModel:
        """Rebuild a model of any kind from `to_checkpoint()` output."""
        cls = MODEL_KINDS[checkpoint["kind"]]
        model = cls(**checkpoint["args"])
        model.load_state_dict(checkpoint["state_dict"])
        model.eval()
        return model


class GMF(NCFModel):
    """Generalised matrix factorisation: `h · (p_u ⊙ q_i) + b`."""

    kind: ClassVar[str] = "gmf"

    def __init__(self, n_users: int, n_items: int, dim: int = 32) -> None:
        """Create the embeddings (small normal init, as in the NCF paper) and the output.

        Args:
            n_users: Number of user rows.
            n_items: Number of item rows.
            dim: Embedding size (the "predictive factors" of the paper).
        """
        super().__init__()
        self.n_users, self.n_items, self.dim = n_users, n_items, dim
        self.user = nn.Embedding(n_users, dim)  # [n_users, dim]
        self.item = nn.Embedding(n_items, dim)  # [n_items, dim]
        self.out = nn.Linear(dim, 1)
        nn.init.normal_(self.user.weight, std=0.01)
        nn.init.normal_(self.item.weight, std=0.01)

    def args(self) -> dict[str, Any]:
        """Constructor arguments."""
        return {"n_users": self.n_users, "n_items": self.n_items, "dim": self.dim}

    def embedding_tables(self) -> list[tuple[nn.Embedding, Side]]:
        """User and item tables."""
        return [(self.user, "user"), (self.item, "item")]

    def forward_embedded(self, rows: list[torch.Tensor]) -> torch.Tensor:
        """Logits `[batch]` from `[user rows, item rows]`."""
        user, item = rows
        return self.out(user * item).squeeze(-1)

    def score_all(self, user_idx: torch.Tensor) -> torch.Tensor:
        """Logits `[batch, n_items]` as one matrix product."""
        users = torch.as_tensor(user_idx, dtype=torch.long)
        return self.user_embeddings(users) @ self.item.weight.T + self.out.bias

    def user_embeddings(self, user_idx: torch.Tensor | None = None) -> torch.Tensor:
        """User query vectors `p_u ⊙ h` `[n, dim]` (all users when `user_idx` is None)."""
        weight = self.user.weight if user_idx is None else self.user(user_idx)
        return weight * self.out.weight[0]

    def item_embeddings(self) -> torch.Tensor:
        """Item vectors `q_i` `[n_items, dim]`; `user · item` is the logit minus the bias."""
        return self.item.weight


class MLP(NCFModel):
    """A ReLU tower over the concatenated user and item embeddings."""

    kind: ClassVar[str] = "mlp"

    def __init__(
        self,
        n_users: int,
        n_items: int,
        dim: int = 32,
        layers: tuple[int, ...] | list[int] = (64, 32, 16),
        dropout: float = 0.0,
    ) -> None:
        """Create the embeddings and the tower.

        Args:
            n_users: Number of user rows.
            n_items: Number of item rows.
            dim: Embedding size per side (the tower's input is `2 * dim`).
            layers: Widths of the hidden layers, bottom to top.
            dropout: Dropout after each hidden layer.
        """
        super().__init__()
        self.n_users, self.n_items, self.dim = n_users, n_items, dim
        self.layers, self.dropout = tuple(layers), dropout
        self.user = nn.Embedding(n_users, dim)  # [n_users, dim]
        self.item = nn.Embedding(n_items, dim)  # [n_items, dim]
        self.tower = _mlp_tower(2 * dim, self.layers, dropout)
        self.out = nn.Linear(self.layers[-1], 1)
        nn.init.normal_(self.user.weight, std=0.01)
        nn.init.normal_(self.item.weight, std=0.01)

    def args(self) -> dict[str, Any]:
        """Constructor arguments."""
        return {
            "n_users": self.n_users,
            "n_items": self.n_items,
            "dim": self.dim,
            "layers": list(self.layers),
            "dropout": self.dropout,
        }

    def embedding_tables(self) -> list[tuple[nn.Embedding, Side]]:
        """User and item tables."""
        return [(self.user, "user"), (self.item, "item")]

    def forward_embedded(self, rows: list[torch.Tensor]) -> torch.Tensor:
        """Logits `[batch]` from `[user rows, item rows]`."""
        user, item = rows
        return self.out(_tower_pairs(self.tower, user, item)).squeeze(-1)

    def score_all(self, user_idx: torch.Tensor) -> torch.Tensor:
        """Logits `[batch, n_items]`, sharing the first layer's per-side products."""
        users = torch.as_tensor(user_idx, dtype=torch.long)
        return self.out(_tower_all(self.tower, self.user(users), self.item.weight)).squeeze(-1)


def _tower_pairs(tower: nn.Sequential, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """Tower output `[batch, width]` for aligned (or broadcastable) user and item rows.

    Equal to `tower(cat([users, items], -1))`, but the first layer is applied as two products,
    `W_u u + W_i i + b`, so the `[batch, 2 * dim]` concatenation is never built (in training
    that copy and its backward cost as much as the layer itself).
    """
    first = tower[0]
    assert isinstance(first, nn.Linear)
    dim = users.shape[-1]
    # broadcasting: user rows [n, 1, dim] are projected once, not once per negative
    hidden = users @ first.weight[:, :dim].T + first.bias + items @ first.weight[:, dim:].T
    return tower[1:](hidden)  # [batch, width] or [n, k, width]


def _tower_all(tower: nn.Sequential, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """Tower output `[batch, n_items, width]` for every user × item pair.

    The first layer is linear in the concatenation, `W [u; i] = W_u u + W_i i`, so each side is
    projected once and the pairs are formed by broadcasting instead of concatenating
    `batch * n_items` embedding pairs.
    """
    first = tower[0]
    assert isinstance(first, nn.Linear)
    dim = users.shape[1]
    left = users @ first.weight[:, :dim].T + first.bias  # [batch, width]
    right = items @ first.weight[:, dim:].T  # [n_items, width]
    hidden = left[:, None, :] + right[None, :, :]  # [batch, n_items, width]
    return tower[1:](hidden)


class NeuMF(NCFModel):
    """GMF and MLP side by side, fused by one output layer over both top vectors."""

    kind: ClassVar[str] = "neumf"

    def __init__(
        self,
        n_users: int,
        n_items: int,
        gmf_dim: int = 32,
        mlp_dim: int = 32,
        layers: tuple[int, ...] | list[int] = (64, 32, 16),
        dropout: float = 0.0,
    ) -> None:
        """Create both halves and the fused output layer.

        Args:
            n_users: Number of user rows.
            n_items: Number of item rows.
            gmf_dim: GMF embedding size.
            mlp_dim: MLP embedding size per side.
            layers: MLP hidden widths, bottom to top.
            dropout: Dropout after each MLP hidden layer.
        """
        super().__init__()
        self.n_users, self.n_items = n_users, n_items
        self.gmf_dim, self.mlp_dim = gmf_dim, mlp_dim
        self.layers, self.dropout = tuple(layers), dropout
        self.gmf_user = nn.Embedding(n_users, gmf_dim)  # [n_users, gmf_dim]
        self.gmf_item = nn.Embedding(n_items, gmf_dim)  # [n_items, gmf_dim]
        self.mlp_user = nn.Embedding(n_users, mlp_dim)  # [n_users, mlp_dim]
        self.mlp_item = nn.Embedding(n_items, mlp_dim)  # [n_items, mlp_dim]
        self.tower = _mlp_tower(2 * mlp_dim, self.layers, dropout)
        self.out = nn.Linear(gmf_dim + self.layers[-1], 1)
        for table in (self.gmf_user, self.gmf_item, self.mlp_user, self.mlp_item):
            nn.init.normal_(table.weight, std=0.01)

    def args(self) -> dict[str, Any]:
        """Constructor arguments."""
        return {
            "n_users": self.n_users,
            "n_items": self.n_items,
            "gmf_dim": self.gmf_dim,
            "mlp_dim": self.mlp_dim,
            "layers": list(self.layers),
            "dropout": self.dropout,
        }

    def embedding_tables(self) -> list[tuple[nn.Embedding, Side]]:
        """GMF user, GMF item, MLP user, MLP item."""
        return [
            (self.gmf_user, "user"),
            (self.gmf_item, "item"),
            (self.mlp_user, "user"),
            (self.mlp_item, "item"),
        ]

    def forward_embedded(self, rows: list[torch.Tensor]) -> torch.Tensor:
        """Logits `[batch]` from the four tables' rows."""
        gmf_user, gmf_item, mlp_user, mlp_item = rows
        mlp = _tower_pairs(self.tower, mlp_user, mlp_item)  # [batch, layers[-1]]
        # out(cat([p ⊙ q, mlp])) without building either the product or the concatenation:
        # h_gmf · (p ⊙ q) = ((p ⊙ h_gmf) ⊙ q).sum(), and p ⊙ h_gmf is one row per user
        weight = self.out.weight[0]
        gmf = (gmf_user * weight[: self.gmf_dim] * gmf_item).sum(-1)
        return gmf + mlp @ weight[self.gmf_dim :] + self.out.bias

    def gmf_part(self, user_idx: torch.Tensor, item_idx: torch.Tensor) -> torch.Tensor:
        """The GMF half's contribution to the logit `[batch]` (no bias)."""
        gmf = self.gmf_user(user_idx) * self.gmf_item(item_idx)
        return gmf @ self.out.weight[0, : self.gmf_dim]

    def score_all(self, user_idx: torch.Tensor) -> torch.Tensor:
        """Logits `[batch, n_items]`: a matrix product for GMF plus the broadcast tower."""
        users = torch.as_tensor(user_idx, dtype=torch.long)
        gmf = self.user_embeddings(users) @ self.gmf_item.weight.T  # [batch, n_items]
        top = _tower_all(self.tower, self.mlp_user(users), self.mlp_item.weight)
        mlp = top @ self.out.weight[0, self.gmf_dim :]  # [batch, n_items]
        return gmf + mlp + self.out.bias

    def user_embeddings(self, user_idx: torch.Tensor | None = None) -> torch.Tensor:
        """GMF user query vectors `p_u ⊙ h_gmf` `[n, gmf_dim]` (all users when None)."""
        weight = self.gmf_user.weight if user_idx is None else self.gmf_user(user_idx)
        return weight * self.out.weight[0, : self.gmf_dim]

    def item_embeddings(self) -> torch.Tensor:
        """GMF item vectors `q_i` `[n_items, gmf_dim]`: `user · item` equals `gmf_part`."""
        return self.gmf_item.weight

    @torch.no_grad()
    def load_pretrained(self, gmf: GMF, mlp: MLP, alpha: float = 0.5) -> NeuMF:
        """Initialise from trained GMF and MLP models (the paper's pre-training).

        Embeddings and the tower are copied; the output layer concatenates the two output
        layers weighted `alpha` and `1 - alpha`, so at the start NeuMF's logit is the blend of
        the two pretrained logits.

        Args:
            gmf: A trained GMF with `dim == gmf_dim`.
            mlp: A trained MLP with the same `dim` and `layers`.
            alpha: Weight of the GMF half in the fused output layer.

        Returns:
            This model, for chaining.
        """
        self.gmf_user.weight.copy_(gmf.user.weight)
        self.gmf_item.weight.copy_(gmf.item.weight)
        self.mlp_user.weight.copy_(mlp.user.weight)
        self.mlp_item.weight.copy_(mlp.item.weight)
        self.tower.load_state_dict(mlp.tower.state_dict())
        self.out.weight.copy_(torch.cat([alpha * gmf.out.weight, (1 - alpha) * mlp.out.weight], 1))
        self.out.bias.copy_(alpha * gmf.out.bias + (1 - alpha) * mlp.out.bias)
        return self


MODEL_KINDS: dict[str, type[NCFModel]] = {"gmf": GMF, "mlp": MLP, "neumf": NeuMF}


def build_model(kind: str, n_users: int, n_items: int, **kwargs: Any) -> NCFModel:
    """Construct a model by kind ("gmf", "mlp" or "neumf").

    Args:
        kind: Model kind.
        n_users: Number of user rows.
        n_items: Number of item rows.
        **kwargs: The kind's remaining constructor arguments.

    Returns:
        A freshly initialised model.
    """
    if kind not in MODEL_KINDS:
        raise ValueError(f"kind must be one of {sorted(MODEL_KINDS)}, got {kind!r}")
    return MODEL_KINDS[kind](n_users, n_items, **kwargs)


@dataclass(frozen=True)
class NumpyNeuMF:
    """NeuMF's forward pass in numpy for one player against a few hundred slots: what serves.

    Beside `NeuMF` on purpose: the model and its serving form are one definition in one
    module, and `tests/test_service_units.py` holds them equal.

    Serving scores one player at a time; torch's per-call overhead would be most of the cost,
    and the item side of the MLP's first layer is the same for every request, so it is
    computed once per bundle (`item_first`). Equal to `NeuMF.score` (see the tests).
    """

    gmf_user: np.ndarray  # [n_users, gmf_dim], already multiplied by the GMF output weights
    gmf_item: np.ndarray  # [n_items, gmf_dim]
    user_first: np.ndarray  # [n_users, width]: W_u u + b of the first tower layer
    item_first: np.ndarray  # [n_items, width]: W_i i of the first tower layer
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]  # the other tower layers (W.T, b)
    out_mlp: np.ndarray  # [layers[-1]]
    out_bias: float

    @classmethod
    @torch.no_grad()
    def from_model(cls, model: NeuMF) -> NumpyNeuMF:
        linears = [m for m in model.tower if isinstance(m, torch.nn.Linear)]
        first = linears[0]
        dim = model.mlp_dim
        weight = model.out.weight[0]

        def np32(t: torch.Tensor) -> np.ndarray:
            return np.ascontiguousarray(t.detach().numpy(), dtype=np.float32)

        return cls(
            gmf_user=np32(model.gmf_user.weight * weight[: model.gmf_dim]),
            gmf_item=np32(model.gmf_item.weight),
            user_first=np32(model.mlp_user.weight @ first.weight[:, :dim].T + first.bias),
            item_first=np32(model.mlp_item.weight @ first.weight[:, dim:].T),
            layers=tuple((np32(m.weight.T), np32(m.bias)) for m in linears[1:]),
            out_mlp=np32(weight[model.gmf_dim :]),
            out_bias=float(model.out.bias[0]),
        )

    def logits(self, user_row: int, items: np.ndarray) -> np.ndarray:
        """Logits [len(items)] of one player (model row) against item rows."""
        gmf = self.gmf_item[items] @ self.gmf_user[user_row]  # [n]
        hidden = np.maximum(self.item_first[items] + self.user_first[user_row], 0.0)  # [n, w]
        for weight_t, bias in self.layers:
            hidden = np.maximum(hidden @ weight_t + bias, 0.0)
        return gmf + hidden @ self.out_mlp + self.out_bias
