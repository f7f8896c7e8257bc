"""How far the slot embeddings moved between the previous bundle and the new one.

Two trainings do not share a coordinate system: the same geometry can come back rotated or
with its axes permuted and flipped, so comparing a slot's raw vectors across bundles says
nothing. Both measures here are invariant to that:

- aligned cosine: rotate the previous vectors onto the new ones with orthogonal Procrustes
  (the rotation that best maps one set onto the other, fitted on the slots both bundles know),
  then average each slot's cosine with itself. 1.0 means the same geometry; low values mean
  the slots moved relative to each other. The rotation has dim² free parameters, so the value
  is only meaningful with many more common slots than dimensions (`common_slots` is reported).
- neighbour overlap@k: the share of each slot's k nearest neighbours (cosine) that are the
  same in both bundles. Needs no alignment at all.
"""

from __future__ import annotations

from typing import Any

import numpy as np

NEIGHBOURS_K = 10
# Below these the new bundle's geometry is flagged as having moved a lot.
MIN_ALIGNED_COSINE = 0.5
MIN_NEIGHBOUR_OVERLAP = 0.3


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def procrustes_rotation(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The orthogonal map W ([d_source, d_target]) minimising ||source @ W − target||."""
    u, _, vt = np.linalg.svd(source.T @ target, full_matrices=False)
    return u @ vt


def neighbour_sets(vectors: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's k nearest rows by cosine, itself excluded: [n, k]."""
    unit = _unit(vectors)
    similarity = unit @ unit.T  # [n, n]
    np.fill_diagonal(similarity, -np.inf)
    return np.argpartition(-similarity, k - 1, axis=1)[:, :k]


def embedding_drift(
    previous_vectors: np.ndarray,
    previous_ids: list[str],
    new_vectors: np.ndarray,
    new_ids: list[str],
    k: int = NEIGHBOURS_K,
) -> dict[str, Any]:
    """Compare the slot embeddings of two bundles on the slots both contain.

    Args:
        previous_vectors: [n_prev, d_prev] vectors of the previous bundle, row i = previous_ids[i].
        previous_ids: slot ids of the previous rows.
        new_vectors: [n_new, d_new] vectors of the new bundle.
        new_ids: slot ids of the new rows.
        k: neighbours compared per slot (capped at common slots − 1).

    Returns:
        `common_slots, added_slots, removed_slots, mean_aligned_cosine, neighbour_overlap, k`
        and `is_drifted` (either measure below its threshold).
    """
    prev_row = {slot: i for i, slot in enumerate(previous_ids)}
    common = [slot for slot in new_ids if slot in prev_row]
    new_row = {slot: i for i, slot in enumerate(new_ids)}
    out: dict[str, Any] = {
        "common_slots": len(common),
        "added_slots": len(set(new_ids) - set(prev_row)),
        "removed_slots": len(set(prev_row) - set(new_ids)),
        "dims": [int(np.shape(previous_vectors)[1]), int(np.shape(new_vectors)[1])],
    }
    if len(common) < 3:
        out["note"] = "fewer than 3 slots in both bundles: nothing to compare"
        return out
    prev = _unit(np.asarray(previous_vectors)[[prev_row[s] for s in common]])
    new = _unit(np.asarray(new_vectors)[[new_row[s] for s in common]])
    aligned = _unit(prev @ procrustes_rotation(prev, new))
    cosine = float(np.mean(np.sum(aligned * new, axis=1)))
    k = min(k, len(common) - 1)
    prev_nn, new_nn = neighbour_sets(prev, k), neighbour_sets(new, k)
    overlap = np.mean(
        [len(set(a) & set(b)) / k for a, b in zip(prev_nn.tolist(), new_nn.tolist(), strict=True)]
    )
    out.update(
        {
            "mean_aligned_cosine": cosine,
            "neighbour_overlap": float(overlap),
            "k": k,
            "is_drifted": bool(cosine < MIN_ALIGNED_COSINE or overlap < MIN_NEIGHBOUR_OVERLAP),
            "thresholds": {
                "min_aligned_cosine": MIN_ALIGNED_COSINE,
                "min_neighbour_overlap": MIN_NEIGHBOUR_OVERLAP,
            },
        }
    )
    return out


def bundle_embedding_drift(
    previous_tag: str, new_tag: str, store: Any, k: int = NEIGHBOURS_K
) -> dict:
    """`embedding_drift` between two bundles of the model store, by tag."""
    from training.bundle import Bundle

    previous, new = Bundle.load(previous_tag, store), Bundle.load(new_tag, store)
    out = embedding_drift(
        previous.index.vectors(),
        previous.index.slot_ids,
        new.index.vectors(),
        new.index.slot_ids,
        k,
    )
    return {"previous_bundle": previous_tag, "new_bundle": new_tag, **out}
