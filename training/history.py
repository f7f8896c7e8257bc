"""NeuMF with a history-pooled player representation (SVD++ / FISM style).

A slot player's training window is short: most players of a simulated lobby have two or three
slots in it. A free vector per player fitted on two positives overfits them, while item-based
models (EASE, item-kNN) describe a player by the slots they played and do better. This model
keeps NeuMF's free player vector `p_u` and adds to it a pooled vector of the player's own
slots, on both the GMF and the MLP side:

    user_u = p_u + |H(u)|^-alpha · sum_{j in H(u)} y_j

where `y_j` is a second item table (what playing slot j says about a player) and `H(u)` the
player's training slots, capped at the `max_history` heaviest ones. While training, the positive
being scored is left out of its own history (FISM's rule): otherwise the model learns that a
slot predicts itself, which never happens at test time, where the held-out slot is new.

That is the profile order. In the sequence order (`TrainConfig.history_order`) a training
positive pools only the slots played before it, recency-weighted, and its negatives share that
vector; scoring pools the most recent slots. It suits logs where what comes next follows from
what came just before (MovieLens-100K's leave-last-out), not the simulated lobby.

For the rest of slotrec:

- `bake()` folds the pooled vectors into plain NeuMF user tables, so bundles, the numpy scorer
  in serving and the evaluation code see an ordinary `NeuMF` and nothing downstream changes.
- `history_vectors(items, weights)` turns any list of slots into the pooled offsets with the
  learned item tables. Serving does not use it yet (its fold-in of today's plays averages FAISS
  slot vectors, `bentos.recommender.scoring`); carrying the history tables in the bundle would
  let it fold fresh plays, and a brand-new player's first plays, into the model's own user
  vector instead.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from training.models import NeuMF, _tower_all


class UserHistory:
    """Per-user training slots as CSR arrays (`indptr`, `items`), in one of two orders.

    - **profile** (the constructor): each user's slots heaviest first, capped at
      `max_history`; every training positive and every scored candidate pools all of them
      (the positive without itself), each counting the same.
    - **sequence** (`UserHistory.sequence`): each user's slots oldest first, uncapped. A
      training positive pools only the `max_history` slots played *before* it, the most recent
      weighted 1 and each step further back `decay` times less; scoring pools the
      `max_history` most recent. The model then learns "what comes next after these", which
      on MovieLens-100K (leave-last-out) took validation NDCG@10 from 0.075 to 0.125.

    Attributes:
        indptr: `[n_users + 1]` offsets into `items`.
        items: Concatenated item indices in the order above.
        max_history: Slots pooled per user (profile: the cap; sequence: the window).
        decay: Per-step recency weight of the sequence order (1 in the profile order).
        row_end: Sequence order only: `[n_training_rows]`, the position of each training
            row's own entry in `items`; the row's window ends just before it. None otherwise.
    """

    def __init__(
        self,
        users: np.ndarray,
        items: np.ndarray,
        weights: np.ndarray,
        n_users: int,
        n_items: int,
        max_history: int = 64,
    ) -> None:
        """Index training pairs; a user with more than `max_history` keeps the heaviest."""
        users = np.asarray(users, np.int64)
        items = np.asarray(items, np.int64)
        order = np.lexsort((-np.asarray(weights, np.float64), users))
        users, items = users[order], items[order]
        starts = np.searchsorted(users, np.arange(n_users))
        rank = np.arange(len(users)) - starts[users]  # position within the user's list
        keep = rank < max_history
        users, items = users[keep], items[keep]
        counts = np.bincount(users, minlength=n_users)
        self.indptr = torch.from_numpy(np.concatenate([[0], np.cumsum(counts)]))
        self.items = torch.from_numpy(items)
        self.max_history = max_history
        self.decay = 1.0
        self.row_end: torch.Tensor | None = None

    @classmethod
    def sequence(
        cls,
        users: np.ndarray,
        items: np.ndarray,
        times: np.ndarray,
        n_users: int,
        max_history: int = 64,
        decay: float = 1.0,
    ) -> UserHistory:
        """The sequence order: slots by time (ties by row order), recency-weighted windows.

        Args:
            users, items: The training rows.
            times: Their timestamps, as numbers that order them (`time_order_key`).
            n_users: Size of the user index space.
            max_history: Window of slots pooled.
            decay: Weight of a slot `s` steps before the newest one in a window: `decay ** s`.
        """
        if not 0.0 < decay <= 1.0:
            raise ValueError(f"history decay must be in (0, 1], got {decay}")
        users = np.asarray(users, np.int64)
        rows = np.arange(len(users))
        order = np.lexsort((rows, np.asarray(times), users))  # by user, then time, then row
        history = cls.__new__(cls)
        counts = np.bincount(users, minlength=n_users)
        history.indptr = torch.from_numpy(np.concatenate([[0], np.cumsum(counts)]))
        history.items = torch.from_numpy(np.asarray(items, np.int64)[order])
        history.max_history, history.decay = max_history, decay
        row_end = np.empty(len(users), np.int64)
        row_end[order] = rows  # row order[p] sits at flat position p ...
        history.row_end = torch.from_numpy(row_end)  # ... and its prefix is everything before it
        return history

    @property
    def sequential(self) -> bool:
        """Whether this is the sequence order (training positives pool their prefixes)."""
        return self.row_end is not None

    def gather(self, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`(flat_items, offsets, counts)` of the users' pooled slots, for `F.embedding_bag`."""
        flat, offsets, counts, _ = self.bags(users)
        return flat, offsets, counts

    def bags(
        self, users: torch.Tensor, rows: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """`(flat_items, offsets, counts, weights)` of what each user pools.

        `rows` (sequence order only): the training rows being scored, one per user; each pools
        the window before its own entry instead of the most recent one. `weights` is None when
        every pooled slot counts the same.
        """
        starts = self.indptr[users]
        if rows is not None:
            assert self.row_end is not None, "training-row windows need the sequence order"
            ends = self.row_end[rows]
        else:
            ends = self.indptr[users + 1]
        if self.sequential:
            starts = torch.maximum(starts, ends - self.max_history)
        counts = ends - starts  # [n]
        offsets = torch.cumsum(counts, 0) - counts  # [n] start of each bag in flat_items
        total = int(counts.sum())
        # flat position p of bag b reads items[starts[b] + (p - offsets[b])]
        shift = torch.repeat_interleave(starts - offsets, counts, output_size=total)
        source = torch.arange(total) + shift
        weights = None
        if self.sequential and self.decay < 1.0:
            back = torch.repeat_interleave(ends, counts, output_size=total) - 1 - source
            weights = torch.tensor(self.decay).pow(back.to(torch.float32))  # newest: 1
        return self.items[source], offsets, counts, weights


class HistoryNeuMF(NeuMF):
    """NeuMF whose user vectors add the pooled item vectors of the user's own slots."""

    kind: ClassVar[str] = "neumf_history"

    def __init__(
        self,
        n_users: int,
        n_items: int,
        gmf_dim: int = 32,
        mlp_dim: int = 32,
        layers: tuple[int, ...] | list[int] = (64, 32, 16),
        dropout: float = 0.0,
        alpha: float = 0.5,
        history_dropout: float = 0.0,
    ) -> None:
        """NeuMF plus the history tables (`alpha`: the pooling's length normalisation)."""
        super().__init__(n_users, n_items, gmf_dim, mlp_dim, layers, dropout)
        self.alpha, self.history_dropout = alpha, history_dropout
        # One dense table `[n_items, gmf_dim + mlp_dim]` (the GMF and the MLP history vectors
        # side by side, pooled in one pass), updated by the trainer's Adam with its own step.
        self.hist = nn.Parameter(torch.randn(n_items, gmf_dim + mlp_dim) * 0.01)
        self.history: UserHistory | None = None

    def history_parameters(self) -> list[nn.Parameter]:
        """The history item table (the trainer gives it `TrainConfig.history_lr`)."""
        return [self.hist]

    def args(self) -> dict[str, Any]:
        """Constructor arguments."""
        return super().args() | {"alpha": self.alpha, "history_dropout": self.history_dropout}

    def set_history(self, history: UserHistory) -> HistoryNeuMF:
        """Attach the training histories the pooled vectors are built from."""
        self.history = history
        return self

    def _pool(
        self,
        users: torch.Tensor,
        exclude: torch.Tensor | None = None,
        rows: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Pooled history vectors `[n, gmf_dim + mlp_dim]` of each user.

        With `exclude` (one item per user) also returns the same pooling without that item
        (`None` otherwise), from the same gathered history: the sum minus the item's row.
        With `rows` (sequence order) each user pools the window before that training row.
        While training, each history item is dropped with probability `history_dropout`, so the
        model cannot lean on any one slot of a player's short history.
        """
        assert self.history is not None, "call set_history() before training or scoring"
        dropout = self.history_dropout if self.training else 0.0  # dropout only while training
        bags = self.history.bags(users, rows)
        return _pool_bags(bags, self.hist, self.alpha, dropout, exclude)

    def _split(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return pooled[..., : self.gmf_dim], pooled[..., self.gmf_dim :]

    def with_history(
        self,
        rows: list[torch.Tensor],
        users: torch.Tensor,
        items: torch.Tensor,
        positions: torch.Tensor | None = None,
    ) -> list[torch.Tensor]:
        """Training rows with the pooled history added to both user sides.

        `rows` are the gathered `[gmf_user, gmf_item, mlp_user, mlp_item]` rows (user rows
        `[n, 1, dim]`), `items` the batch's `[n, width]` items with the positive in column 0,
        `positions` the training rows the positives come from.

        In the sequence order a positive and its negatives share one vector: the window of
        slots played before the positive, which holds neither it nor anything after it.

        In the profile order column 0 pools the history without its own item; the negatives
        pool all of it, as every candidate does at serving time. Scoring the whole row with
        the history minus the positive instead cost 0.008 validation NDCG@10 on the simulated
        world (0.2839 → 0.2763), since for a player with two or three slots that is a very
        different vector. The price: the positive's player vector differs from its
        negatives', which a per-row softmax loss learns to exploit (it collapsed), so this
        model trains with BCE.
        """
        assert self.history is not None, "call set_history() before training or scoring"
        if self.history.sequential:
            if positions is None:
                raise ValueError("the sequence order needs the positives' training rows")
            return self._with_window(rows, users, positions)
        gmf_user, gmf_item, mlp_user, mlp_item = rows
        n, width = items.shape
        full, without = self._pool(users, exclude=items[:, 0])
        assert without is not None
        full_gmf, full_mlp = self._split(full)
        excl_gmf, excl_mlp = self._split(without)

        def per_column(excluded: torch.Tensor, full: torch.Tensor) -> torch.Tensor:
            rest = full[:, None, :].expand(n, width - 1, full.shape[1])
            return torch.cat([excluded[:, None, :], rest], 1)  # [n, width, dim]

        return [
            gmf_user + per_column(excl_gmf, full_gmf),
            gmf_item,
            mlp_user + per_column(excl_mlp, full_mlp),
            mlp_item,
        ]

    def training_logits(
        self,
        rows: list[torch.Tensor],
        users: torch.Tensor,
        items: torch.Tensor,
        positions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The logits of `forward_embedded(with_history(...))`, without per-column user rows.

        `with_history` gives the profile order's positive a different user vector from its
        negatives, as `[n, width, dim]` user rows; the tower then multiplies `width` user rows
        per positive instead of one. Here the row is scored once with the whole history
        (user rows `[n, 1, dim]`, broadcast) and the positive once more with its history minus
        itself, and column 0 is taken from the second pass.
        """
        assert self.history is not None, "call set_history() before training or scoring"
        if self.history.sequential:
            return super().training_logits(rows, users, items, positions)
        gmf_user, gmf_item, mlp_user, mlp_item = rows
        full, without = self._pool(users, exclude=items[:, 0])
        assert without is not None
        full_gmf, full_mlp = self._split(full[:, None, :])
        excl_gmf, excl_mlp = self._split(without[:, None, :])
        every = self.forward_embedded(
            [gmf_user + full_gmf, gmf_item, mlp_user + full_mlp, mlp_item]
        )  # [n, width]
        positive = self.forward_embedded(
            [gmf_user + excl_gmf, gmf_item[:, :1], mlp_user + excl_mlp, mlp_item[:, :1]]
        )  # [n, 1]
        return torch.cat([positive, every[:, 1:]], 1)

    def _with_window(
        self, rows: list[torch.Tensor], users: torch.Tensor, positions: torch.Tensor
    ) -> list[torch.Tensor]:
        """Sequence order: every column of a row gets the positive's preceding window."""
        gmf_user, gmf_item, mlp_user, mlp_item = rows
        pooled_gmf, pooled_mlp = self._split(self._pool(users, rows=positions)[0])
        return [
            gmf_user + pooled_gmf[:, None, :],
            gmf_item,
            mlp_user + pooled_mlp[:, None, :],
            mlp_item,
        ]

    def _effective(self, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gmf, mlp = self._split(self._pool(users)[0])
        return self.gmf_user(users) + gmf, self.mlp_user(users) + mlp

    def forward(self, user_idx: torch.Tensor, item_idx: torch.Tensor) -> torch.Tensor:
        """Logits `[batch]` for pairs, with every user's full history pooled in."""
        gmf_user, mlp_user = self._effective(user_idx)
        return self.forward_embedded(
            [gmf_user, self.gmf_item(item_idx), mlp_user, self.mlp_item(item_idx)]
        )

    def score_all(self, user_idx: torch.Tensor) -> torch.Tensor:
        """Logits `[batch, n_items]` (the baked model's, computed without baking)."""
        users = torch.as_tensor(user_idx, dtype=torch.long)
        gmf_user, mlp_user = self._effective(users)
        weight = self.out.weight[0]
        gmf = (gmf_user * weight[: self.gmf_dim]) @ self.gmf_item.weight.T
        top = _tower_all(self.tower, mlp_user, self.mlp_item.weight)
        return gmf + top @ weight[self.gmf_dim :] + self.out.bias

    def user_embeddings(self, user_idx: torch.Tensor | None = None) -> torch.Tensor:
        """GMF query vectors of the effective (history-pooled) users."""
        users = torch.arange(self.n_users) if user_idx is None else user_idx
        gmf_user, _ = self._effective(users)
        return gmf_user * self.out.weight[0, : self.gmf_dim]

    def history_vectors(
        self, items: np.ndarray, weights: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pooled GMF and MLP offsets `[gmf_dim]`, `[mlp_dim]` of any list of slots."""
        index = torch.as_tensor(np.asarray(items, np.int64))
        if len(index) == 0:
            return np.zeros(self.gmf_dim, np.float32), np.zeros(self.mlp_dim, np.float32)
        w = torch.ones(len(index)) if weights is None else torch.as_tensor(weights).float()
        scale = float(len(index)) ** -self.alpha / float(w.mean())
        with torch.no_grad():
            gmf, mlp = self._split((w @ self.hist[index]) * scale)
        return gmf.numpy(), mlp.numpy()

    @torch.no_grad()
    def bake(self) -> NeuMF:
        """A plain NeuMF whose user tables hold the effective (history-pooled) user vectors."""
        plain = NeuMF(
            self.n_users,
            self.n_items,
            self.gmf_dim,
            self.mlp_dim,
            self.layers,
            self.dropout,
        )
        plain.load_state_dict({k: v for k, v in self.state_dict().items() if k != "hist"})
        chunk = 65_536
        for start in range(0, self.n_users, chunk):
            users = torch.arange(start, min(start + chunk, self.n_users))
            gmf, mlp = self._effective(users)
            plain.gmf_user.weight[users] = gmf
            plain.mlp_user.weight[users] = mlp
        plain.eval()
        return plain


def _pool_bags(
    bags: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None],
    hist: torch.Tensor,
    alpha: float,
    dropout: float,
    exclude: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Length-normalised sums of history rows over bags: `HistoryNeuMF._pool`'s arithmetic.

    Args:
        bags: `UserHistory.bags` of the `n` users: `(flat_items, offsets, counts, weights)`.
        hist: The history table `[n_items, gmf_dim + mlp_dim]`.
        alpha: The pooling's length normalisation: a bag of `c` items is scaled by `c ** -alpha`.
        dropout: Probability of dropping each pooled item (0: none dropped).
        exclude: One item per user to leave out of a second pooling, or None.

    Returns:
        `(full, without)`: the pooled vectors `[n, gmf_dim + mlp_dim]`, and with `exclude` the
        same pooling without that item (the sum minus its row; None without `exclude`).
    """
    flat, offsets, counts, weight = bags
    n = len(counts)
    bag: torch.Tensor | None = None
    if exclude is not None or weight is not None or dropout > 0:
        bag = torch.repeat_interleave(torch.arange(n), counts, output_size=len(flat))
    if dropout > 0:
        keep = (torch.rand(len(flat)) >= dropout).to(torch.float32)
        weight = keep if weight is None else weight * keep
    if weight is None:
        kept = counts.to(torch.float32)  # [n] weight pooled per user
    else:
        assert bag is not None
        kept = torch.zeros(n).index_add_(0, bag, weight)
    total = F.embedding_bag(flat, hist, offsets, mode="sum", per_sample_weights=weight)
    full = total * _scale(kept, alpha)
    if exclude is None:
        return full, None
    assert bag is not None
    hit = (flat == exclude[bag]).to(torch.float32)  # the excluded item, where pooled
    held = torch.zeros(n).index_add_(0, bag, hit if weight is None else hit * weight)
    without = (total - held[:, None] * hist[exclude]) * _scale(kept - held, alpha)
    return full, without


def _scale(counts: torch.Tensor, alpha: float) -> torch.Tensor:
    """`counts ** -alpha` as a column `[n, 1]`, 0 where nothing was pooled."""
    return torch.where(counts > 0, counts.clamp(min=1.0).pow(-alpha), 0.0)[:, None]
