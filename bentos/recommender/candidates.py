"""Candidate generation: FAISS neighbours of the slots in play, plus the player's own vector.

The neighbours of the context slot and of the most recent slots are the same for every player,
so each slot's are searched once and kept with the index (`LiveIndex.neighbour_rows`); a request
makes at most one FAISS call, for the player's query vector (MIPS; the GMF half of NeuMF is an
inner product). Popular slots of the player's segment close the pool so a thin history still
yields a full list.
"""

from __future__ import annotations

import numpy as np

from bentos.recommender.reasons import POPULAR, SIMILAR, Origin
from bentos.snapshot import LiveIndex

# Pool sizes: a list of k needs a few times k candidates to survive the filters and the
# diversity cap; every extra candidate is paid for in scoring time on each request.
NEIGHBOURS_PER_SEED = 20
VECTOR_CANDIDATES = 100  # at least; 4k for long lists
POPULAR_CANDIDATES = 30


def gather_candidates(
    live: LiveIndex,
    seeds: list[str],
    query: np.ndarray | None,
    query_reason: str,
    popular: list[str],
    k: int = 10,
) -> dict[str, Origin]:
    """Candidate slot ids with the origin that proposed each first.

    Args:
        live: The index to search.
        seeds: Slots whose neighbours are wanted, most important first (context, then recent);
            slots not in the index are skipped.
        query: The player's query vector [dim], or None for a player without one.
        query_reason: The reason code of the vector's candidates (history, recent, onboarding).
        popular: The segment's popular slots, most popular first.
        k: The list length asked for (sizes the vector search).

    Returns:
        slot_id → Origin, in insertion order: seed neighbours, vector candidates, popular.
    """
    seeds = [seed for seed in seeds if seed in live.rows]
    slot_ids = live.index.slot_ids
    found: dict[str, Origin] = {}
    neighbours = live.neighbour_rows([live.rows[seed] for seed in seeds], NEIGHBOURS_PER_SEED + 1)
    for seed, seed_neighbours in zip(seeds, neighbours, strict=True):
        origin = Origin(SIMILAR, seed)
        for row in seed_neighbours.tolist():
            if row >= 0 and (slot_id := slot_ids[row]) != seed and slot_id not in found:
                found[slot_id] = origin
    if query is not None:
        _, nearest = live.index.search_rows(query, max(VECTOR_CANDIDATES, 4 * k))  # [1, depth]
        origin = Origin(query_reason)
        for row in nearest[0].tolist():
            if row >= 0 and (slot_id := slot_ids[row]) not in found:
                found[slot_id] = origin
    origin = Origin(POPULAR)
    for slot_id in popular[:POPULAR_CANDIDATES]:
        if slot_id not in found:
            found[slot_id] = origin
    return found
