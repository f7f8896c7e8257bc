"""The FAISS index over slot embeddings, and its row → `slot_id` map, as one object.

Vectors are L2-normalised, so inner product is cosine similarity: "slots like this one" is a
nearest-neighbour search, and a user's query vector retrieves candidates by direction (the full
NeuMF re-scores them afterwards, so the dropped item norm costs recall only at the margin).

`exact` (IndexFlatIP) is the default: for a lobby of a few thousand slots an exhaustive search
takes microseconds. `hnsw` is for large catalogues (`index_kind_for` switches at
`APPROXIMATE_FROM_SLOTS`). How well HNSW does depends on the vectors, not only on its settings:
the same M/efSearch gave recall@10 0.999 on one model's 50,000 slot vectors and 0.875 on
another's, whose rarely played slots were still close to their random start. So every HNSW
index is calibrated when it is built: efSearch is raised until recall@10 against exact search,
over sample queries, reaches `TARGET_RECALL`; if even `MAX_EF_SEARCH` does not get there, or the
breadth that does makes a query slower than an exhaustive scan, the index is built exact instead
(a scan of 50,000 32-dim vectors still answers in about a third of a millisecond).
`slotrec bench train` measures recall and latency of the result
(`benchmarks/results/train.json`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import faiss
import numpy as np

log = logging.getLogger(__name__)

INDEX_KINDS = ("exact", "hnsw")

# Catalogues at least this large get the HNSW index: below it an exact scan of 32-dim vectors
# answers a query in well under a millisecond, so approximation would buy nothing.
APPROXIMATE_FROM_SLOTS = 20_000
# HNSW settings the pipeline and the service use; the training benchmark measures recall@10
# against exact at these values (target >= 0.99).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 128
# Calibration: the recall@10 an HNSW index must show on sample queries, the efSearch values
# tried (from HNSW_EF_SEARCH up), and how many queries are sampled.
TARGET_RECALL = 0.99
MAX_EF_SEARCH = 1024
CALIBRATION_QUERIES = 1_000


def index_kind_for(n_slots: int) -> str:
    """The index kind a catalogue of `n_slots` gets: "exact", or "hnsw" for large ones."""
    return "hnsw" if n_slots >= APPROXIMATE_FROM_SLOTS else "exact"


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation as float32; zero rows stay zero."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


@dataclass
class SlotIndex:
    """A FAISS inner-product index whose row i holds the vector of `slot_ids[i]`."""

    index: faiss.Index
    slot_ids: list[str]
    kind: str
    calibration: dict[str, object] | None = None  # efSearch and recall an HNSW build chose

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        slot_ids: list[str],
        kind: str = "exact",
        hnsw_m: int = HNSW_M,
        hnsw_ef_search: int = HNSW_EF_SEARCH,
        hnsw_ef_construction: int = HNSW_EF_CONSTRUCTION,
        calibration_queries: np.ndarray | None = None,
        target_recall: float | None = TARGET_RECALL,
    ) -> SlotIndex:
        """Index `vectors` ([n_slots, dim]) for the given ids.

        Args:
            vectors: one embedding per slot, in the order of `slot_ids`.
            slot_ids: external ids; row i of the index answers as `slot_ids[i]`.
            kind: "exact" (flat inner product) or "hnsw" (approximate, for large catalogues).
            hnsw_m: HNSW graph degree.
            hnsw_ef_search: HNSW search breadth; higher is slower and more exact.
            hnsw_ef_construction: HNSW build breadth; a better graph for a slower build.
            calibration_queries: Queries an HNSW index is calibrated on (the pipeline passes
                players' query vectors); default: a sample of the slot vectors themselves,
                which is optimistic (each finds itself).
            target_recall: recall@10 an HNSW index must reach (raising efSearch from
                `hnsw_ef_search` to `MAX_EF_SEARCH`), or it is built exact; None skips the
                calibration.
        """
        if len(vectors) != len(slot_ids):
            raise ValueError(f"{len(vectors)} vectors for {len(slot_ids)} slot ids")
        if kind not in INDEX_KINDS:
            raise ValueError(f"unknown index kind {kind!r}; expected one of {INDEX_KINDS}")
        dim = vectors.shape[1]
        if kind == "exact":
            index: faiss.Index = faiss.IndexFlatIP(dim)
        else:
            index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = hnsw_ef_construction
            index.hnsw.efSearch = hnsw_ef_search
        index.add(normalise(vectors))
        built = cls(index=index, slot_ids=list(slot_ids), kind=kind)
        if kind == "hnsw" and target_recall is not None:
            return built._calibrated(vectors, calibration_queries, target_recall)
        return built

    def _calibrated(
        self, vectors: np.ndarray, queries: np.ndarray | None, target: float
    ) -> SlotIndex:
        """This HNSW index with the smallest efSearch reaching `target`, else an exact one."""
        rng = np.random.default_rng(0)
        pool = vectors if queries is None or not len(queries) else queries
        sample = pool[rng.choice(len(pool), min(CALIBRATION_QUERIES, len(pool)), replace=False)]
        exact = SlotIndex.build(vectors, self.slot_ids, kind="exact")
        tried: dict[str, float] = {}  # efSearch (as a JSON key) → recall@10
        graph = _graph(self.index)
        ef = int(graph.efSearch)
        while ef <= MAX_EF_SEARCH:
            graph.efSearch = ef
            tried[str(ef)] = recall = round(measure_recall(self, exact, sample), 4)
            if recall >= target:
                calibration = {"ef_search": ef, "recall10": recall, "tried": tried}
                return self._if_faster_than(exact, sample, calibration)
            ef *= 2
        log.warning(
            "HNSW recall@10 stays below %.2f up to efSearch %d (%s): building exact instead",
            target,
            MAX_EF_SEARCH,
            tried,
        )
        exact.calibration = {"ef_search": None, "recall10": 1.0, "tried": tried}
        return exact

    def _if_faster_than(
        self, exact: SlotIndex, queries: np.ndarray, calibration: dict[str, object]
    ) -> SlotIndex:
        """This index if it answers one query faster than `exact`, else `exact`.

        A wide enough search to reach the target recall can cost more than the exhaustive scan
        it approximates (seen at 50,000 barely trained slot vectors: efSearch 1,024, 1.0 ms
        against 0.35 ms exact); then approximation buys nothing.
        """
        own, scan = _query_ms(self, queries), _query_ms(exact, queries)
        calibration |= {"query_ms": round(own, 4), "exact_query_ms": round(scan, 4)}
        if own < scan:
            self.calibration = calibration
            return self
        log.info("calibrated HNSW (%.3f ms) is slower than exact (%.3f ms): exact", own, scan)
        exact.calibration = calibration | {"ef_search": None, "slower_than_exact": True}
        return exact

    def rebuilt(self, vectors: np.ndarray, slot_ids: list[str]) -> SlotIndex:
        """An index of the same kind and calibrated breadth over other vectors (new games).

        Not re-calibrated: a handful of added slots does not change what the calibration found,
        and serving must not spend a second on it.
        """
        if self.kind != "hnsw":
            return SlotIndex.build(vectors, slot_ids, kind=self.kind)
        ef = int(_graph(self.index).efSearch)
        index = SlotIndex.build(
            vectors, slot_ids, kind="hnsw", hnsw_ef_search=ef, target_recall=None
        )
        index.calibration = self.calibration
        return index

    @property
    def dim(self) -> int:
        """Vector size."""
        return int(self.index.d)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def add(self, vectors: np.ndarray, slot_ids: list[str]) -> None:
        """Append slots (a new game goes live without rebuilding the index)."""
        self.index.add(normalise(vectors))
        self.slot_ids.extend(slot_ids)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, list[list[str]]]:
        """The k nearest slots of each query ([n_queries, dim]) by cosine similarity.

        Returns:
            Scores [n_queries, k'] and the matching slot ids, k' = min(k, len(self)).
        """
        scores, rows = self.search_rows(queries, k)
        ids = [[self.slot_ids[r] for r in row if r >= 0] for row in rows]
        return scores, ids

    def search_rows(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """`search` without the ids: scores and rows [n_queries, k'] (-1 where none).

        For callers that read only part of each row's neighbours: turning all of them into
        ids cost more than the search itself (5 queries x 100 neighbours, 3,000 slots).
        A flat (exact) index is searched single-threaded faster than numpy can score the same
        catalogue, at every size measured (`slotrec bench search`), so there is no numpy path.
        """
        k = min(k, len(self))
        scores, rows = self.index.search(normalise(np.atleast_2d(queries)), k)
        return scores, rows

    def vectors(self) -> np.ndarray:
        """The stored (normalised) vectors, [n_slots, dim]."""
        return np.asarray(self.index.reconstruct_n(0, len(self)), dtype=np.float32)

    def save(self, folder: Path) -> None:
        """Write `index.faiss` and `slot_ids.json` into `folder` (each atomically)."""
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / ".index.faiss.tmp"
        faiss.write_index(self.index, str(tmp))
        os.replace(tmp, folder / "index.faiss")
        meta_tmp = folder / ".slot_ids.json.tmp"
        meta = {"kind": self.kind, "slot_ids": self.slot_ids, "calibration": self.calibration}
        meta_tmp.write_text(json.dumps(meta))
        os.replace(meta_tmp, folder / "slot_ids.json")

    @classmethod
    def load(cls, folder: Path) -> SlotIndex:
        """Read an index written by `save`."""
        meta = json.loads((folder / "slot_ids.json").read_text())
        index = faiss.read_index(str(folder / "index.faiss"))
        if index.ntotal != len(meta["slot_ids"]):
            raise ValueError(
                f"index in {folder} has {index.ntotal} rows but {len(meta['slot_ids'])} ids"
            )
        calibration = meta.get("calibration")
        if calibration and calibration.get("ef_search"):
            # the calibrated breadth, whatever the file format kept of it
            _graph(index).efSearch = int(calibration["ef_search"])
        return cls(
            index=index, slot_ids=meta["slot_ids"], kind=meta["kind"], calibration=calibration
        )


def _query_ms(index: SlotIndex, queries: np.ndarray, k: int = 10) -> float:
    """Median milliseconds of one single-query search (as the service searches)."""
    times = []
    for query in queries[:200]:
        tick = time.perf_counter()
        index.search(query[None, :], k)
        times.append(time.perf_counter() - tick)
    return float(np.median(times)) * 1000


def _graph(index: faiss.Index) -> faiss.HNSW:
    """The HNSW graph of an `IndexHNSWFlat` (the base `Index` type does not show it)."""
    return cast(faiss.IndexHNSWFlat, index).hnsw


def measure_recall(
    approximate: SlotIndex, exact: SlotIndex, queries: np.ndarray, k: int = 10
) -> float:
    """recall@k of an approximate index against the exact one over the same vectors.

    Args:
        approximate: The index under test.
        exact: An exact index over the same vectors and ids.
        queries: Query vectors `[n_queries, dim]`.
        k: Neighbours per query.

    Returns:
        The share of the exact top-k that the approximate index also returns.
    """
    _, found = approximate.search(queries, k)
    _, truth = exact.search(queries, k)
    hits = sum(len(set(f) & set(t)) for f, t in zip(found, truth, strict=True))
    return hits / sum(len(t) for t in truth)
