"""Embedding drift is blind to rotations and id order, and sees a reshuffled geometry."""

from __future__ import annotations

import numpy as np
import pytest

from monitoring.embedding_drift import embedding_drift

RNG = np.random.default_rng(0)
IDS = [f"s{i:03d}" for i in range(60)]
VECTORS = RNG.normal(size=(60, 8))


def test_a_rotated_and_reordered_copy_has_not_drifted():
    rotation, _ = np.linalg.qr(RNG.normal(size=(8, 8)))  # a random orthogonal matrix
    order = RNG.permutation(60)
    moved = (VECTORS @ rotation)[order] * 3.0  # rotated, rows shuffled, rescaled
    out = embedding_drift(VECTORS, IDS, moved, [IDS[i] for i in order])
    assert out["common_slots"] == 60
    assert out["mean_aligned_cosine"] == pytest.approx(1.0, abs=1e-6)
    assert out["neighbour_overlap"] == pytest.approx(1.0)
    assert out["is_drifted"] is False


def test_an_unrelated_geometry_has_drifted():
    out = embedding_drift(VECTORS, IDS, RNG.normal(size=(60, 8)), IDS)
    assert out["mean_aligned_cosine"] < 0.6
    assert out["neighbour_overlap"] < 0.35
    assert out["is_drifted"] is True


def test_added_and_removed_slots_are_counted():
    out = embedding_drift(VECTORS[:50], IDS[:50], VECTORS[5:], IDS[5:])
    assert (out["common_slots"], out["added_slots"], out["removed_slots"]) == (45, 10, 5)
    assert out["neighbour_overlap"] == pytest.approx(1.0)
