"""The FAISS slot index: exact cosine neighbours, save/load, live additions, HNSW recall."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from training.index import (
    APPROXIMATE_FROM_SLOTS,
    HNSW_EF_CONSTRUCTION,
    HNSW_EF_SEARCH,
    SlotIndex,
    index_kind_for,
    measure_recall,
    normalise,
)


def _vectors() -> np.ndarray:
    return np.array(
        [
            [1.0, 0.0, 0.0],
            [0.9, 0.1, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 2.0],
        ],
        dtype=np.float32,
    )


def test_exact_search_returns_cosine_neighbours_in_order():
    index = SlotIndex.build(_vectors(), ["a", "b", "c", "d"])
    scores, ids = index.search(np.array([[10.0, 0.0, 0.0]]), k=3)
    assert ids[0][:2] == ["a", "b"]
    assert scores[0][0] == pytest.approx(1.0)
    assert scores[0][1] == pytest.approx(0.9 / np.hypot(0.9, 0.1), rel=1e-5)


def test_save_load_round_trip_gives_the_same_answers(tmp_path):
    index = SlotIndex.build(_vectors(), ["a", "b", "c", "d"])
    index.save(tmp_path / "index")
    loaded = SlotIndex.load(tmp_path / "index")
    assert loaded.slot_ids == ["a", "b", "c", "d"]
    queries = np.random.default_rng(0).normal(size=(5, 3))
    assert index.search(queries, 4)[1] == loaded.search(queries, 4)[1]
    np.testing.assert_allclose(loaded.vectors(), normalise(_vectors()), rtol=1e-6)


def test_added_slot_is_found_without_a_rebuild():
    index = SlotIndex.build(_vectors(), ["a", "b", "c", "d"])
    index.add(np.array([[0.0, 0.7, 0.7]]), ["new"])
    _, ids = index.search(np.array([[0.0, 1.0, 1.0]]), k=1)
    assert ids == [["new"]]
    assert len(index) == 5


def test_mismatched_ids_and_unknown_kind_are_refused():
    with pytest.raises(ValueError, match="4 vectors for 3 slot ids"):
        SlotIndex.build(_vectors(), ["a", "b", "c"])
    with pytest.raises(ValueError, match="unknown index kind 'ivf'"):
        SlotIndex.build(_vectors(), ["a", "b", "c", "d"], kind="ivf")


def test_hnsw_recall_against_exact_is_at_least_099():
    rng = np.random.default_rng(1)
    # clustered vectors, like learned embeddings: 50 tastes, 4,000 slots
    centres = rng.normal(size=(50, 32))
    vectors = centres[rng.integers(0, 50, 4_000)] + 0.3 * rng.normal(size=(4_000, 32))
    ids = [f"s{i}" for i in range(len(vectors))]
    exact = SlotIndex.build(vectors, ids)
    approx = SlotIndex.build(vectors, ids, kind="hnsw")
    assert measure_recall(approx, exact, vectors[:300], k=10) >= 0.99


def test_pipeline_switches_to_hnsw_for_large_catalogues():
    assert index_kind_for(APPROXIMATE_FROM_SLOTS - 1) == "exact"
    assert index_kind_for(APPROXIMATE_FROM_SLOTS) == "hnsw"


def test_hnsw_is_built_with_the_measured_settings(tmp_path):
    vectors = np.random.default_rng(2).normal(size=(200, 8))
    index = SlotIndex.build(vectors, [f"s{i}" for i in range(200)], kind="hnsw", target_recall=None)
    index.save(tmp_path / "index")
    # the service rebuilds and reloads indexes: the settings must survive a round trip
    graph = faiss.downcast_index(SlotIndex.load(tmp_path / "index").index).hnsw
    assert graph.efSearch == HNSW_EF_SEARCH
    assert graph.efConstruction == HNSW_EF_CONSTRUCTION


def _random_unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    # the hard case for HNSW: no structure at all (like slot vectors still near their init)
    return normalise(np.random.default_rng(seed).normal(size=(n, dim)))


@pytest.fixture
def hnsw_always_faster(monkeypatch):
    """Timing is not under test here: the calibrated HNSW index is kept whatever its speed."""
    import training.index as index_module

    monkeypatch.setattr(
        index_module, "_query_ms", lambda index, queries: {"hnsw": 1.0}.get(index.kind, 2.0)
    )


def test_calibration_raises_ef_search_until_the_target_recall(hnsw_always_faster):
    vectors = _random_unit_vectors(6_000, 32, 3)
    ids = [f"s{i}" for i in range(len(vectors))]
    plain = SlotIndex.build(vectors, ids, kind="hnsw", hnsw_ef_search=16, target_recall=None)
    exact = SlotIndex.build(vectors, ids)
    queries = _random_unit_vectors(300, 32, 4)
    assert measure_recall(plain, exact, queries) < 0.99  # too narrow a search for this data
    calibrated = SlotIndex.build(
        vectors, ids, kind="hnsw", hnsw_ef_search=16, calibration_queries=queries[:150]
    )
    assert calibrated.kind == "hnsw" and calibrated.calibration is not None
    ef = calibrated.calibration["ef_search"]
    assert isinstance(ef, int) and ef > 16
    assert calibrated.calibration["recall10"] >= 0.99
    assert measure_recall(calibrated, exact, queries[150:]) >= 0.98  # held-out queries


def test_calibration_falls_back_to_exact_when_no_breadth_is_enough(monkeypatch):
    import training.index as index_module

    monkeypatch.setattr(index_module, "MAX_EF_SEARCH", 16)
    vectors = _random_unit_vectors(6_000, 32, 5)
    ids = [f"s{i}" for i in range(len(vectors))]
    queries = _random_unit_vectors(200, 32, 9)
    index = SlotIndex.build(
        vectors, ids, kind="hnsw", hnsw_ef_search=8, calibration_queries=queries
    )
    assert index.kind == "exact"
    assert index.calibration is not None and index.calibration["ef_search"] is None
    assert set(index.calibration["tried"]) == {"8", "16"}


def test_an_hnsw_index_slower_than_exact_is_built_exact(monkeypatch):
    import training.index as index_module

    monkeypatch.setattr(
        index_module, "_query_ms", lambda index, queries: {"hnsw": 3.0}.get(index.kind, 1.0)
    )
    vectors = _random_unit_vectors(2_000, 16, 7)
    ids = [f"s{i}" for i in range(len(vectors))]
    index = SlotIndex.build(vectors, ids, kind="hnsw")
    assert index.kind == "exact"
    assert index.calibration is not None and index.calibration["slower_than_exact"] is True
    assert (index.calibration["query_ms"], index.calibration["exact_query_ms"]) == (3.0, 1.0)


def test_calibrated_breadth_survives_save_load_and_a_rebuild(tmp_path, hnsw_always_faster):
    vectors = _random_unit_vectors(3_000, 16, 6)
    ids = [f"s{i}" for i in range(len(vectors))]
    index = SlotIndex.build(vectors, ids, kind="hnsw", hnsw_ef_search=4)
    assert index.kind == "hnsw" and index.calibration is not None
    ef = index.calibration["ef_search"]
    index.save(tmp_path / "index")
    loaded = SlotIndex.load(tmp_path / "index")
    assert faiss.downcast_index(loaded.index).hnsw.efSearch == ef
    assert loaded.calibration == index.calibration
    grown = loaded.rebuilt(np.vstack([vectors, vectors[:1]]), [*ids, "s-new"])
    assert grown.kind == "hnsw" and faiss.downcast_index(grown.index).hnsw.efSearch == ef
