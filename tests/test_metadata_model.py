"""Metadata → embedding for new slots and onboarding answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from slotrec.core import schema
from training.index import normalise
from training.metadata_model import MetadataEmbedder, evaluate_holdout


def _catalogue(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Slots whose 'learned' embedding is a function of theme and volatility plus noise."""
    rng = np.random.default_rng(seed)
    themes = rng.choice(schema.THEMES, n)
    vols = rng.choice(schema.VOLATILITY_LEVELS, n)
    slots = pd.DataFrame(
        {
            "theme": themes,
            "volatility": vols,
            "provider": rng.choice(["p1", "p2", "p3"], n),
            "rtp": rng.uniform(0.94, 0.975, n),
            "max_win_multiplier": rng.lognormal(7, 1, n),
            "has_bonus_buy": rng.random(n) < 0.3,
        }
    )
    theme_vec = {t: rng.normal(size=16) for t in schema.THEMES}
    vol_vec = {v: rng.normal(size=16) for v in schema.VOLATILITY_LEVELS}
    emb = np.stack([theme_vec[t] + 0.5 * vol_vec[v] for t, v in zip(themes, vols, strict=True)])
    return slots, emb + 0.1 * rng.normal(size=emb.shape)


def test_predicts_embeddings_of_unseen_slots_far_better_than_the_mean():
    slots, emb = _catalogue(400)
    result = evaluate_holdout(slots, emb, holdout_share=0.25, k=10)
    assert result["heldout_slots"] == 100
    assert result["cosine_to_learned"] > 0.9
    assert result["cosine_to_learned"] > result["cosine_mean_baseline"] + 0.5
    assert result["neighbour_recall10"] > 0.3


def test_onboarding_answers_land_near_slots_with_those_attributes():
    slots, emb = _catalogue(400, seed=1)
    model = MetadataEmbedder.fit(slots, emb)
    query = normalise(model.embed_preferences("fishing", "high", None)[None])[0]
    learned = normalise(emb)
    top = np.argsort(-(learned @ query))[:10]
    assert (slots.iloc[top]["theme"] == "fishing").all()


def test_checkpoint_round_trip_and_unknown_provider():
    slots, emb = _catalogue(100, seed=2)
    model = MetadataEmbedder.fit(slots, emb)
    restored = MetadataEmbedder.from_checkpoint(model.to_checkpoint())
    new = slots.head(3).assign(provider=["never-seen", "p1", "p2"])
    np.testing.assert_allclose(restored.predict(new), model.predict(new), rtol=1e-6)
    assert restored.dim == 16


def test_mismatched_rows_are_refused():
    slots, emb = _catalogue(10)
    with pytest.raises(ValueError, match="10 catalogue rows for 9 embeddings"):
        MetadataEmbedder.fit(slots, emb[:9])
