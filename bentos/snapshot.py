"""One servable state: the promoted bundle, ready to answer, plus the catalogue it serves.

A `Snapshot` is built off to the side (at start or on reload) and then swapped in with one
attribute assignment, so a request holds either the old or the new one for its whole life.
The only part that changes while a snapshot serves is its `LiveIndex`: a new game is added by
building a new (small) index and swapping that reference too, never by mutating an index
another thread may be searching.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from bentos.catalog import Catalog, SlotInfo, load_catalog
from slotrec.core.settings import Settings
from training.bundle import Bundle
from training.index import SlotIndex, normalise
from training.metadata_model import MetadataEmbedder
from training.model_store import model_store
from training.models import NCFModel, NeuMF
from training.promotion import PromotionRegistry

log = logging.getLogger(__name__)

# A new game's model score is the similarity-weighted score of this many nearest known slots.
PROXY_NEIGHBOURS = 5


class BundleUnavailable(Exception):
    """No promoted bundle, or the promoted bundle cannot be read."""


@dataclass(frozen=True)
class LiveIndex:
    """The FAISS index the service searches: the bundle's slots plus games registered since."""

    index: SlotIndex
    vectors: np.ndarray  # [n_slots, dim], normalised, row i = index.slot_ids[i]
    rows: dict[str, int]  # slot_id → row
    # new games: slot_id → (model item rows of its nearest known slots, their weights)
    proxies: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def vector(self, slot_id: str) -> np.ndarray | None:
        row = self.rows.get(slot_id)
        return None if row is None else self.vectors[row]

    def with_slots(
        self, slot_ids: list[str], vectors: np.ndarray, model_rows: dict[str, int]
    ) -> LiveIndex:
        """A new LiveIndex with `slot_ids` added (or re-embedded), leaving this one untouched."""
        vectors = normalise(vectors)  # [n_new, dim]
        keep = [i for i, s in enumerate(self.index.slot_ids) if s not in set(slot_ids)]
        all_ids = [self.index.slot_ids[i] for i in keep] + list(slot_ids)
        all_vectors = np.vstack([self.vectors[keep], vectors])
        index = self.index.rebuilt(all_vectors, all_ids)
        proxies = dict(self.proxies)
        known = [s for s in self.index.slot_ids if s in model_rows and s not in proxies]
        known_rows = np.array([model_rows[s] for s in known], dtype=np.int64)
        known_vectors = self.vectors[[self.rows[s] for s in known]]  # [n_known, dim]
        for slot_id, vector in zip(slot_ids, vectors, strict=True):
            if slot_id in model_rows or not len(known):
                continue
            sims = known_vectors @ vector  # [n_known]
            top = np.argsort(-sims)[:PROXY_NEIGHBOURS]
            weights = np.maximum(sims[top], 1e-3)
            proxies[slot_id] = (known_rows[top], weights / weights.sum())
        return LiveIndex(index, all_vectors, {s: i for i, s in enumerate(all_ids)}, proxies)


@dataclass(frozen=True)
class NumpyNeuMF:
    """NeuMF's forward pass in numpy for one player against a few hundred slots.

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


@dataclass
class Snapshot:
    """The promoted bundle and the catalogue, ready to serve."""

    version: str
    model: NCFModel
    scorer: NumpyNeuMF
    user_rows: dict[str, int]  # user_id → model user row
    slot_rows: dict[str, int]  # slot_id → model item row
    user_vectors: np.ndarray  # [n_users, dim] normalised GMF query vectors
    live: LiveIndex
    catalog: Catalog
    embedder: MetadataEmbedder | None
    popularity: dict[str, list[str]]

    def slot(self, slot_id: str) -> SlotInfo | None:
        return self.catalog.slots.get(slot_id)

    def user_vector(self, user_id: str) -> np.ndarray | None:
        row = self.user_rows.get(user_id)
        return None if row is None else self.user_vectors[row]

    def model_scores(self, user_id: str, slot_ids: list[str]) -> np.ndarray:
        """Probabilities [len(slot_ids)] that the player plays each slot (NaN where unknown).

        Known slots are scored by NeuMF; a new game by its nearest known slots' scores.
        """
        out = np.full(len(slot_ids), np.nan, dtype=np.float64)
        row = self.user_rows.get(user_id)
        if row is None or not slot_ids:
            return out
        get = self.slot_rows.get
        items = np.fromiter((get(s, -1) for s in slot_ids), dtype=np.int64, count=len(slot_ids))
        known = items >= 0
        if known.any():
            out[known] = _sigmoid(self.scorer.logits(row, items[known]))
        for pos in np.flatnonzero(~known):
            proxy = self.live.proxies.get(slot_ids[pos])
            if proxy is not None:
                proxy_rows, weights = proxy
                out[pos] = float(weights @ _sigmoid(self.scorer.logits(row, proxy_rows)))
        return out


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))


def promoted_tag(settings: Settings) -> str | None:
    """The tag promoted.json names, or None before the first promotion."""
    return PromotionRegistry(settings.layout.promoted_path).current


def load_snapshot(settings: Settings, tag: str | None = None) -> Snapshot:
    """Load the promoted bundle (or `tag`) and the warehouse catalogue.

    Raises:
        BundleUnavailable: nothing is promoted, or the bundle cannot be read.
    """
    tag = tag or promoted_tag(settings)
    if tag is None:
        raise BundleUnavailable(f"no promoted bundle in {settings.layout.promoted_path}")
    try:
        bundle = Bundle.load(tag, model_store(settings))
    except Exception as exc:  # a missing or corrupt bundle: say which and why
        raise BundleUnavailable(f"cannot load bundle {tag}: {exc}") from exc
    return snapshot_from_bundle(bundle, settings.layout.warehouse_path)


def snapshot_from_bundle(bundle: Bundle, warehouse: Path) -> Snapshot:
    """Everything a request needs from one bundle, as flat arrays and dictionaries."""
    model = NCFModel.from_checkpoint(bundle.model_checkpoint)
    if not isinstance(model, NeuMF):
        raise BundleUnavailable(f"bundle {bundle.version} holds a {model.kind}, not NeuMF")
    with torch.no_grad():
        user_vectors = normalise(model.user_embeddings().numpy())
    vectors = bundle.index.vectors()
    live = LiveIndex(
        index=bundle.index,
        vectors=normalise(vectors),
        rows={s: i for i, s in enumerate(bundle.index.slot_ids)},
    )
    catalog = load_catalog(warehouse) if warehouse.exists() else Catalog.empty()
    if not catalog.slots:
        log.warning("no warehouse at %s: serving without catalogue rules", warehouse)
    embedder = (
        MetadataEmbedder.from_checkpoint(bundle.metadata_model_checkpoint)
        if bundle.metadata_model_checkpoint
        else None
    )
    return Snapshot(
        version=str(bundle.version),
        model=model,
        scorer=NumpyNeuMF.from_model(model),
        user_rows={u: i for i, u in enumerate(bundle.user_ids)},
        slot_rows={s: i for i, s in enumerate(bundle.slot_ids)},
        user_vectors=user_vectors,
        live=live,
        catalog=catalog,
        embedder=embedder,
        popularity={
            "global": list(bundle.popularity.get("global", [])),
            **{f"segment:{k}": list(v) for k, v in bundle.popularity.get("by_segment", {}).items()},
        },
    )
