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
from training.models import NCFModel, NeuMF, NumpyNeuMF
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
    # (row, depth) → that slot's nearest rows, itself included: filled on first use (see
    # `neighbour_rows`). A new game makes a new LiveIndex, so a cache never outlives its index.
    _neighbours: dict[tuple[int, int], np.ndarray] = field(
        default_factory=dict, compare=False, repr=False
    )

    def vector(self, slot_id: str) -> np.ndarray | None:
        row = self.rows.get(slot_id)
        return None if row is None else self.vectors[row]

    def neighbour_rows(self, rows: list[int], depth: int) -> list[np.ndarray]:
        """The `depth` nearest rows [depth] of each of `rows`, searched once per slot.

        A slot's neighbours do not depend on who asks, yet every list for a player mid-session
        searched them again for the slot being played and the recent ones: on 3,000 slots
        that was 4 of the request's 5 queries, all at the vector query's depth, and about a
        sixth of a mid-session list's time in-process. Concurrent first uses may both search;
        they store the same answer. At most one entry per slot and depth (50,000 slots x 21
        rows: 8 MB).
        """
        missing = [row for row in dict.fromkeys(rows) if (row, depth) not in self._neighbours]
        if missing:
            _, found = self.index.search_rows(self.vectors[missing], depth)  # [n_missing, depth]
            for row, neighbours in zip(missing, found, strict=True):
                self._neighbours[(row, depth)] = neighbours
        return [self._neighbours[(row, depth)] for row in rows]

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


@dataclass
class Snapshot:
    """The promoted bundle and the catalogue, ready to serve."""

    version: str
    model: NCFModel
    scorer: NumpyNeuMF  # the model's forward pass in numpy (`training.models`)
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
