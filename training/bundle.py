"""One model bundle: everything the service needs, written together as one BentoML model.

A bundle is a single version in the BentoML model store. BentoML writes a new model into a
temporary folder and moves it into the store only when the `with` block ends without error, so a
training run that fails half-way leaves no half-bundle behind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from training.index import SlotIndex
from training.model_store import BUNDLE_MODEL_NAME

MODEL_FILE = "model.pt"
METADATA_MODEL_FILE = "metadata_model.pt"
INDEX_DIR = "index"
ID_MAPS_FILE = "id_maps.json"
POPULARITY_FILE = "popularity.json"
METRICS_FILE = "metrics.json"
CONFIG_FILE = "config.json"
WINDOW_FILE = "window.json"


@dataclass
class Bundle:
    """A trained recommender and everything that goes with it.

    Attributes:
        model_checkpoint: the NeuMF `args` + `state_dict` (see `training.models`).
        index: FAISS index over the slot embeddings with its row → slot_id map.
        user_ids: external id of each model user row (position = `user_idx`).
        slot_ids: external id of each model item row (position = `slot_idx`).
        popularity: {"global": [slot_id, …], "by_segment": {segment: [slot_id, …]}}.
        metadata_model_checkpoint: the metadata → embedding model for new slots.
        metrics: evaluation results (validation and test, NeuMF and baselines).
        config: the training configuration.
        window: the data window: as_of, first/last training day, validation and test days.
        version: the BentoML tag, set once saved or loaded.
    """

    model_checkpoint: dict[str, Any]
    index: SlotIndex
    user_ids: list[str]
    slot_ids: list[str]
    popularity: dict[str, Any]
    metadata_model_checkpoint: dict[str, Any] | None
    metrics: dict[str, Any]
    config: dict[str, Any]
    window: dict[str, Any]
    version: str | None = field(default=None)

    @property
    def validation_ndcg10(self) -> float:
        """The gate's metric: NeuMF NDCG@10 on the validation split."""
        return float(self.metrics["validation"]["neumf"]["ndcg10"])

    def save(self, store: Any) -> str:
        """Write the bundle into a BentoML model store (`model_store`); returns its tag."""
        import bentoml

        labels = {"as_of": str(self.window.get("as_of", "")), "kind": "neumf"}
        metadata = {
            "validation_ndcg10": self.validation_ndcg10,
            "n_users": len(self.user_ids),
            "n_slots": len(self.slot_ids),
        }
        with bentoml.models.create(
            BUNDLE_MODEL_NAME,
            labels=labels,
            metadata=metadata,
            module=__name__,
            _model_store=store,
        ) as model:
            self.write(Path(model.path))
        self.version = str(model.tag)
        return self.version

    def write(self, folder: Path) -> None:
        """Write every artifact into `folder`."""
        torch.save(self.model_checkpoint, folder / MODEL_FILE)
        if self.metadata_model_checkpoint is not None:
            torch.save(self.metadata_model_checkpoint, folder / METADATA_MODEL_FILE)
        self.index.save(folder / INDEX_DIR)
        files = {
            ID_MAPS_FILE: {"user_ids": self.user_ids, "slot_ids": self.slot_ids},
            POPULARITY_FILE: self.popularity,
            METRICS_FILE: self.metrics,
            CONFIG_FILE: self.config,
            WINDOW_FILE: self.window,
        }
        for name, payload in files.items():
            (folder / name).write_text(json.dumps(payload, indent=1, default=str))

    @classmethod
    def read(cls, folder: Path, version: str | None = None) -> Bundle:
        """Read a bundle from a folder written by `write`."""

        def load_json(name: str) -> Any:
            return json.loads((folder / name).read_text())

        id_maps = load_json(ID_MAPS_FILE)
        metadata_path = folder / METADATA_MODEL_FILE
        return cls(
            model_checkpoint=torch.load(folder / MODEL_FILE, weights_only=False),
            index=SlotIndex.load(folder / INDEX_DIR),
            user_ids=id_maps["user_ids"],
            slot_ids=id_maps["slot_ids"],
            popularity=load_json(POPULARITY_FILE),
            metadata_model_checkpoint=(
                torch.load(metadata_path, weights_only=False) if metadata_path.exists() else None
            ),
            metrics=load_json(METRICS_FILE),
            config=load_json(CONFIG_FILE),
            window=load_json(WINDOW_FILE),
            version=version,
        )

    @classmethod
    def load(cls, tag: str, store: Any) -> Bundle:
        """Load a bundle from a BentoML model store by tag ("slotrec-ncf:<version>")."""
        import bentoml

        model = bentoml.models.get(tag, _model_store=store)
        return cls.read(Path(model.path), version=str(model.tag))
