"""Slot attributes as categorical codes, for side-feature embeddings in NeuMF.

A slot's theme, volatility and provider say much of what its plays say (the simulator's true
affinity is built from them, and real lobbies are browsed by them), and a slot with a dozen
plays in the training window has a poorly fitted free vector. `ItemFeatures` turns the
catalogue into one integer code per (slot, attribute) in a single shared vocabulary, so a model
can give every slot an additive part `sum_f e[code(slot, f)]` learned jointly with its free
vector (`training.history.HistoryNeuMF`). Slots are static, so the trained model bakes that part
into its plain item tables and nothing downstream sees the features.

A slot missing from the catalogue, or an attribute value it lacks, gets its attribute's own
"unknown" code: the model still scores it, from its free vector and the unknown embeddings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import pandas as pd
import torch

# attribute → how a catalogue row's value is read; "rtp" is cut into quantile buckets
FIELDS: Final = ("theme", "volatility", "provider", "rtp", "bonus_buy")
RTP_BUCKETS: Final = 4
SLOT_INDEX: Final = "slot_idx"


class ItemFeatures:
    """Per-item attribute codes `[n_items, n_fields]` into one vocabulary of `n_codes`.

    Attributes:
        fields: The attributes, in column order of `codes`.
        codes: `[n_items, n_fields]` long tensor; each field's codes are a contiguous range.
        n_codes: Size of the shared vocabulary (every field's values plus its "unknown").
        vocabulary: `(field, value)` of each code, for inspection.
    """

    def __init__(
        self, slots: pd.DataFrame, n_items: int, fields: Sequence[str] = FIELDS[:3]
    ) -> None:
        """Encode the catalogue rows (`slot_idx` plus the attribute columns) of `n_items` items.

        Raises:
            ValueError: An unknown field, a missing column, or a `slot_idx` outside the items.
        """
        unknown = [f for f in fields if f not in FIELDS]
        if unknown:
            raise ValueError(f"unknown item feature(s) {unknown}; choose from {list(FIELDS)}")
        if not fields:
            raise ValueError("item features need at least one field")
        needed = {SLOT_INDEX} | {_column(f) for f in fields}
        missing = sorted(needed - set(slots.columns))
        if missing:
            raise ValueError(f"slot catalogue lacks column(s) {missing} for item features")
        idx = slots[SLOT_INDEX].to_numpy(np.int64)
        if len(idx) and (idx.min() < 0 or idx.max() >= n_items):
            raise ValueError(f"slot_idx outside 0..{n_items - 1} in the slot catalogue")
        self.fields = tuple(fields)
        self.vocabulary: list[tuple[str, str]] = []
        codes = np.empty((n_items, len(fields)), np.int64)
        for column, field in enumerate(fields):
            values = _values(slots, field)
            levels = sorted(set(values.tolist()) - {""})
            lookup = {v: len(self.vocabulary) + i for i, v in enumerate(levels)}
            unknown_code = len(self.vocabulary) + len(levels)
            self.vocabulary += [(field, v) for v in levels] + [(field, "")]
            codes[:, column] = unknown_code  # items without a catalogue row
            codes[idx, column] = [lookup.get(v, unknown_code) for v in values]
        self.codes = torch.from_numpy(codes)
        self.n_codes = len(self.vocabulary)

    @property
    def n_items(self) -> int:
        """Items encoded."""
        return int(self.codes.shape[0])


def _column(field: str) -> str:
    return "has_bonus_buy" if field == "bonus_buy" else field


def _values(slots: pd.DataFrame, field: str) -> np.ndarray:
    """The field of every catalogue row as a string; "" where the row has no value."""
    raw = slots[_column(field)]
    if field == "rtp":
        rtp = pd.to_numeric(raw, errors="coerce")
        known = rtp.dropna()
        if known.empty:
            return np.full(len(raw), "", object)
        # quantile edges of this catalogue; a catalogue with few distinct RTPs gets fewer buckets
        edges = np.unique(np.quantile(known, np.linspace(0, 1, RTP_BUCKETS + 1)[1:-1]))
        bucket = np.searchsorted(edges, rtp.to_numpy(np.float64), side="right").astype(str)
        return np.where(rtp.isna().to_numpy(), "", bucket).astype(object)
    return np.array(["" if pd.isna(v) else str(v) for v in raw], object)
