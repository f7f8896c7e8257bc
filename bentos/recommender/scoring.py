"""Scores in [0, 1]: NeuMF for known players, steered by what they played minutes ago.

Progressive personalisation: the slots a player played since the last retrain are folded into
one vector, the play-time-weighted mean of their index vectors. For a known player it pulls the
NeuMF score toward today's taste with a weight that grows with today's play time; for a player
the model has never seen it is the whole personal signal, next to segment popularity and the
onboarding answers. The vectors are unit length, so a cosine maps to [0, 1] as (1 + cos) / 2.
"""

from __future__ import annotations

import numpy as np

from bentos.snapshot import LiveIndex, Snapshot
from training.index import normalise

# Recent play reaches its full weight after this much play time (a player who has played ten
# minutes has shown a taste; one spin has not).
RECENT_SATURATION_SECONDS = 600.0
# A session that has just started counts as this many seconds, so it steers a little at once.
MIN_PLAY_WEIGHT_SECONDS = 30.0
# A cold player's score: this much segment popularity, the rest taste (onboarding, recent).
COLD_POPULARITY_WEIGHT = 0.5


def folded_vector(
    live: LiveIndex, recent_play_seconds: dict[str, float]
) -> tuple[np.ndarray | None, float]:
    """The play-time-weighted mean vector [dim] of recently played slots, and the total time.

    Slots the index does not know are skipped; None when none is left.
    """
    rows, weights = [], []
    for slot_id, seconds in recent_play_seconds.items():
        row = live.rows.get(slot_id)
        if row is not None:
            rows.append(row)
            weights.append(max(float(seconds), MIN_PLAY_WEIGHT_SECONDS))
    if not rows:
        return None, 0.0
    w = np.asarray(weights)
    vector = (live.vectors[rows] * w[:, None]).sum(axis=0) / w.sum()  # [dim]
    return normalise(vector[None])[0], float(sum(recent_play_seconds.values()))


def recent_share(recent_weight: float, recent_seconds: float) -> float:
    """How much the folded-in vector counts, growing with today's play time."""
    return recent_weight * min(1.0, recent_seconds / RECENT_SATURATION_SECONDS)


def blend(
    base: np.ndarray | None, other: np.ndarray | None, other_share: float
) -> np.ndarray | None:
    """A unit vector between `base` and `other` ([dim] each; either may be missing)."""
    if base is None:
        return other
    if other is None or other_share <= 0:
        return base
    return normalise(((1 - other_share) * base + other_share * other)[None])[0]


def index_rows(live: LiveIndex, slot_ids: list[str]) -> np.ndarray:
    """Each slot's row [len(slot_ids)] in the index, -1 where it has none."""
    get = live.rows.get
    return np.fromiter((get(s, -1) for s in slot_ids), dtype=np.int64, count=len(slot_ids))


def taste(
    live: LiveIndex,
    vector: np.ndarray | None,
    slot_ids: list[str],
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """(1 + cos) / 2 between `vector` and each slot's index vector; 0.5 where either is missing.

    `rows`: the slots' `index_rows`, when the caller has them already.
    """
    out = np.full(len(slot_ids), 0.5)
    if vector is None:
        return out
    rows = index_rows(live, slot_ids) if rows is None else rows
    known = rows >= 0
    if known.any():
        out[known] = (1.0 + live.vectors[rows[known]] @ vector) / 2.0  # [n_known]
    return out


def popularity_prior(popular: list[str], slot_ids: list[str]) -> np.ndarray:
    """1 for the most popular slot, falling linearly to 0 past the end of the list."""
    rank = {s: i for i, s in enumerate(popular)}
    n = max(len(popular), 1)
    return np.array([1.0 - rank[s] / n if s in rank else 0.0 for s in slot_ids])


def score_slots(
    snapshot: Snapshot,
    user_id: str,
    slot_ids: list[str],
    *,
    taste_vector: np.ndarray | None,
    folded: np.ndarray | None,
    recent_seconds: float,
    recent_weight: float,
    popular: list[str],
) -> np.ndarray:
    """Scores [len(slot_ids)] in [0, 1] for one player.

    Args:
        snapshot: The serving bundle.
        user_id: The player.
        slot_ids: Candidates that passed the filters.
        taste_vector: The player's query vector (learned, onboarding, or folded-in).
        folded: The folded-in vector of recent plays, or None.
        recent_seconds: Total recent play time behind `folded`.
        recent_weight: The strategy's weight of recent activity against the model.
        popular: The segment's popular list (for players the model does not know).
    """
    model = snapshot.model_scores(user_id, slot_ids)  # NaN where the model cannot score
    unscored = np.isnan(model)
    share = recent_share(recent_weight, recent_seconds) if folded is not None else 0.0
    # the slots' index rows, looked up once for the taste passes below, and only if one runs
    # (a known player idle today needs none)
    needs_taste = share > 0.0 or (taste_vector is not None and bool(unscored.any()))
    rows = index_rows(snapshot.live, slot_ids) if needs_taste else None
    if unscored.all():
        prior = popularity_prior(popular, slot_ids)
        if taste_vector is None:
            return prior
        return COLD_POPULARITY_WEIGHT * prior + (1 - COLD_POPULARITY_WEIGHT) * taste(
            snapshot.live, taste_vector, slot_ids, rows
        )
    if unscored.any():
        model = np.where(unscored, taste(snapshot.live, taste_vector, slot_ids, rows), model)
    if share == 0.0:
        return model
    return (1 - share) * model + share * taste(snapshot.live, folded, slot_ids, rows)
