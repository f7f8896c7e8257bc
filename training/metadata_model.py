"""Metadata → embedding: a vector for a slot nobody has played yet.

A new game has a theme, a volatility, a provider, an RTP, a maximum win and maybe a bonus buy,
but no plays. This model learns, over the known slots, the map from those attributes to the
slot's learned embedding, so a new game enters the FAISS index on day one, and a new player's
onboarding answers ("I like fishing games, high volatility") can be placed in the same space.

It is a ridge regression on one-hot and standardised attributes: a few hundred known slots are
too few for anything deeper, and the closed form is deterministic and trains in milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from slotrec.core import schema
from training.index import normalise

NUMERIC = ("rtp", "log_max_win", "has_bonus_buy")


def _split_list(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


@dataclass
class MetadataEmbedder:
    """Ridge regression from slot attributes to (normalised) slot embeddings."""

    providers: list[str]
    numeric_mean: np.ndarray  # [len(NUMERIC)]
    numeric_std: np.ndarray  # [len(NUMERIC)]
    weights: np.ndarray  # [n_features, dim]

    @property
    def dim(self) -> int:
        return int(self.weights.shape[1])

    # --- features -----------------------------------------------------------------------
    @staticmethod
    def _numeric(slots: pd.DataFrame) -> np.ndarray:
        return np.column_stack(
            [
                slots["rtp"].astype(float).to_numpy(),
                np.log1p(slots["max_win_multiplier"].astype(float).to_numpy()),
                slots["has_bonus_buy"].astype(float).to_numpy(),
            ]
        )

    def _encode(
        self, themes: np.ndarray, volatility: np.ndarray, providers: np.ndarray, numeric: np.ndarray
    ) -> np.ndarray:
        """Concatenate [bias | theme | volatility | provider (+other) | numeric] → [n, f]."""
        n = len(numeric)
        numeric = (numeric - self.numeric_mean) / self.numeric_std
        return np.hstack([np.ones((n, 1)), themes, volatility, providers, numeric])

    def _one_hot(self, slots: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        themes = np.array(
            [[t == theme for theme in schema.THEMES] for t in slots["theme"]], dtype=float
        ).reshape(len(slots), len(schema.THEMES))
        volatility = np.array(
            [[v == level for level in schema.VOLATILITY_LEVELS] for v in slots["volatility"]],
            dtype=float,
        ).reshape(len(slots), len(schema.VOLATILITY_LEVELS))
        providers = np.zeros((len(slots), len(self.providers) + 1))
        lookup = {p: i for i, p in enumerate(self.providers)}
        for row, provider in enumerate(slots["provider"]):
            providers[row, lookup.get(provider, len(self.providers))] = 1.0
        return themes, volatility, providers

    def features(self, slots: pd.DataFrame) -> np.ndarray:
        """The design matrix of catalogue rows (theme, volatility, provider, rtp, …)."""
        return self._encode(*self._one_hot(slots), self._numeric(slots))

    # --- fit / predict ------------------------------------------------------------------
    @classmethod
    def fit(cls, slots: pd.DataFrame, embeddings: np.ndarray, l2: float = 1.0) -> MetadataEmbedder:
        """Fit on known slots: catalogue rows and their learned embeddings ([n, dim]).

        Embeddings are normalised first: the index compares directions, so that is what the
        model should get right.
        """
        if len(slots) != len(embeddings):
            raise ValueError(f"{len(slots)} catalogue rows for {len(embeddings)} embeddings")
        numeric = cls._numeric(slots)
        model = cls(
            providers=sorted(slots["provider"].dropna().unique().tolist()),
            numeric_mean=numeric.mean(axis=0),
            numeric_std=np.maximum(numeric.std(axis=0), 1e-6),
            weights=np.zeros((0, embeddings.shape[1])),
        )
        x = model.features(slots)  # [n, f]
        y = normalise(embeddings).astype(np.float64)  # [n, dim]
        penalty = l2 * np.eye(x.shape[1])
        penalty[0, 0] = 0.0  # the bias is not shrunk
        model.weights = np.linalg.solve(x.T @ x + penalty, x.T @ y)
        return model

    def predict(self, slots: pd.DataFrame) -> np.ndarray:
        """Estimated embeddings for catalogue rows, [n, dim] float32."""
        return (self.features(slots) @ self.weights).astype(np.float32)

    def embed_preferences(
        self,
        themes: Sequence[str] | str | None = None,
        volatility: Sequence[str] | str | None = None,
        providers: Sequence[str] | str | None = None,
    ) -> np.ndarray:
        """A [dim] vector for onboarding answers: the average "slot" with those attributes.

        Unanswered questions spread their weight evenly, so an empty survey lands on the
        centre of the catalogue rather than on any one corner of it.
        """
        theme_list = [t for t in _split_list(themes) if t in schema.THEMES]
        vol_list = [v for v in _split_list(volatility) if v in schema.VOLATILITY_LEVELS]
        prov_list = [p for p in _split_list(providers) if p in self.providers]
        theme_row = np.array(
            [
                (t in theme_list) / len(theme_list) if theme_list else 1 / len(schema.THEMES)
                for t in schema.THEMES
            ]
        )
        vol_row = np.array(
            [
                (v in vol_list) / len(vol_list) if vol_list else 1 / len(schema.VOLATILITY_LEVELS)
                for v in schema.VOLATILITY_LEVELS
            ]
        )
        prov_row = np.zeros(len(self.providers) + 1)
        if prov_list:
            for p in prov_list:
                prov_row[self.providers.index(p)] = 1 / len(prov_list)
        else:
            prov_row[:-1] = 1 / max(len(self.providers), 1)
        x = self._encode(theme_row[None], vol_row[None], prov_row[None], self.numeric_mean[None])
        return (x @ self.weights)[0].astype(np.float32)

    # --- persistence --------------------------------------------------------------------
    def to_checkpoint(self) -> dict[str, Any]:
        return {
            "providers": self.providers,
            "numeric_mean": self.numeric_mean.tolist(),
            "numeric_std": self.numeric_std.tolist(),
            "weights": self.weights.tolist(),
        }

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any]) -> MetadataEmbedder:
        return cls(
            providers=list(checkpoint["providers"]),
            numeric_mean=np.asarray(checkpoint["numeric_mean"], dtype=np.float64),
            numeric_std=np.asarray(checkpoint["numeric_std"], dtype=np.float64),
            weights=np.asarray(checkpoint["weights"], dtype=np.float64),
        )


def evaluate_holdout(
    slots: pd.DataFrame,
    embeddings: np.ndarray,
    holdout_share: float = 0.2,
    k: int = 10,
    seed: int = 0,
    l2: float = 1.0,
) -> dict[str, float]:
    """Hold known slots out, predict their embeddings from metadata, compare with the learned.

    Returns the mean cosine between predicted and learned vectors, the same for a baseline
    that predicts the mean embedding, and the overlap of each held-out slot's k nearest known
    slots under the predicted vs the learned vector (neighbour recall@k).
    """
    rng = np.random.default_rng(seed)
    n = len(slots)
    held = rng.permutation(n)[: max(1, int(n * holdout_share))]
    known = np.setdiff1d(np.arange(n), held)
    model = MetadataEmbedder.fit(slots.iloc[known], embeddings[known], l2=l2)
    learned = normalise(embeddings)
    predicted = normalise(model.predict(slots.iloc[held]))
    cosine = float(np.mean(np.sum(predicted * learned[held], axis=1)))
    mean_vector = normalise(learned[known].mean(axis=0, keepdims=True))
    baseline = float(np.mean(learned[held] @ mean_vector[0]))
    k = min(k, len(known))
    by_truth = np.argsort(-(learned[held] @ learned[known].T), axis=1)[:, :k]
    by_pred = np.argsort(-(predicted @ learned[known].T), axis=1)[:, :k]
    overlap = np.mean([len(set(a) & set(b)) / k for a, b in zip(by_truth, by_pred, strict=True)])
    return {
        "heldout_slots": len(held),
        "cosine_to_learned": cosine,
        "cosine_mean_baseline": baseline,
        f"neighbour_recall{k}": float(overlap),
    }
