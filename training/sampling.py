"""Vectorised negative sampling for implicit-feedback training and the sampled evaluation.

Negatives are drawn for a whole epoch in one call: candidates for every position at once,
collisions with known positives found with one `searchsorted` over sorted `user * n_items + item`
keys, and only the colliding positions redrawn. A handful of rounds clears all but users who
have played nearly the whole catalogue; those few are finished exactly from their complement.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

SamplerKind = Literal["uniform", "popularity"]


# Pair spaces up to this many (user, item) cells get a bitmap (at most 64 MiB); larger ones
# fall back to binary search over the sorted keys.
MAX_BITMAP_CELLS = 1 << 29


class PositiveSet:
    """Known (user, item) pairs, for vectorised membership tests.

    Pairs are kept as sorted int64 keys `user * n_items + item`. When the whole pair space is
    small enough, a bitmap over it answers membership with one gather per query instead of a
    binary search: on 100k users x 3k items that is several times faster, and membership is
    the inner loop of negative sampling.
    """

    def __init__(self, users: np.ndarray, items: np.ndarray, n_items: int) -> None:
        """Index the pairs.

        Args:
            users: User index of each known pair, `[n]`.
            items: Item index of each known pair, `[n]`.
            n_items: Size of the item index space (the key stride).
        """
        self.n_items = int(n_items)
        keys = np.sort(np.asarray(users, np.int64) * self.n_items + np.asarray(items, np.int64))
        # sort + drop repeats: numpy 2's hash-based np.unique is ~50x slower on millions of keys
        self.keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])] if len(keys) else keys
        cells = int(self.keys[-1]) + 1 if len(self.keys) else 0
        self.bits: np.ndarray | None = None
        if 0 < cells <= MAX_BITMAP_CELLS:
            self.bits = np.zeros((cells + 7) // 8, np.uint8)
            byte, first = np.unique(self.keys >> 3, return_index=True)
            # keys are unique, so summing each byte's bit values is the same as OR-ing them
            bit_values = np.left_shift(1, self.keys & 7).astype(np.uint8)
            self.bits[byte] = np.add.reduceat(bit_values, first)

    def __len__(self) -> int:
        return len(self.keys)

    def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Boolean mask `[n]`: is each (user, item) pair a known positive."""
        query = np.asarray(users, np.int64) * self.n_items
        query += np.asarray(items, np.int64)
        if len(self.keys) == 0:
            return np.zeros(len(query), dtype=bool)
        if self.bits is None:
            pos = np.searchsorted(self.keys, query)
            np.minimum(pos, len(self.keys) - 1, out=pos)
            return self.keys[pos] == query
        byte_index = query >> 3
        outside = len(query) > 0 and int(byte_index.max()) >= len(self.bits)
        if outside:  # users past the last known one: clip, then mask them out
            np.minimum(byte_index, len(self.bits) - 1, out=byte_index)
        found = (self.bits[byte_index] >> (query & 7).astype(np.uint8)) & 1
        mask = found.view(bool)
        if outside:
            mask &= query < len(self.bits) * 8
        return mask

    def items_of(self, user: int) -> np.ndarray:
        """Sorted item indices known for one user."""
        lo, hi = np.searchsorted(self.keys, [user * self.n_items, (user + 1) * self.n_items])
        return self.keys[lo:hi] - user * self.n_items


def item_counts(items: np.ndarray, n_items: int) -> np.ndarray:
    """Number of rows per item, `[n_items]` (distinct users per item when pairs are unique)."""
    return np.bincount(np.asarray(items, np.int64), minlength=n_items).astype(np.float64)


def popularity_distribution(counts: np.ndarray, alpha: float = 0.75) -> np.ndarray:
    """Sampling probabilities proportional to `count ** alpha` (word2vec's 0.75 by default).

    Items never played get the smallest positive count's weight instead of zero, so every item
    can still be drawn as a negative.

    Args:
        counts: Interactions per item, `[n_items]`.
        alpha: 0 gives uniform sampling, 1 sampling proportional to popularity.

    Returns:
        Probabilities `[n_items]` summing to 1.
    """
    counts = np.asarray(counts, dtype=np.float64)
    floor = counts[counts > 0].min() if np.any(counts > 0) else 1.0
    weights = np.maximum(counts, floor) ** alpha
    return weights / weights.sum()


def _draw(size: int, n_items: int, rng: np.random.Generator, cdf: np.ndarray | None) -> np.ndarray:
    if cdf is None:
        return rng.integers(0, n_items, size=size, dtype=np.int64)
    # inverse-CDF sampling: one uniform per draw and a binary search, no Python loop
    drawn = np.searchsorted(cdf, rng.random(size), side="right")
    return np.minimum(drawn, n_items - 1).astype(np.int64)


def sample_negatives(
    users: np.ndarray,
    n_items: int,
    rng: np.random.Generator,
    *,
    positives: PositiveSet | None = None,
    probs: np.ndarray | None = None,
    max_rounds: int = 20,
) -> np.ndarray:
    """Draw one negative item for each entry of `users`, never a known positive of that user.

    Args:
        users: User index per requested negative, `[n]` (repeat a user to get several).
        n_items: Size of the item index space.
        rng: Source of randomness (seed it for reproducible epochs and evaluations).
        positives: Known pairs to reject; `None` accepts every draw.
        probs: Sampling distribution over items `[n_items]`; `None` means uniform.
        max_rounds: Vectorised redraw rounds before the exact per-user fallback.

    Returns:
        Item indices `[n]`, int64.
    """
    users = np.asarray(users, np.int64)
    cdf = None if probs is None else np.cumsum(probs)
    items = _draw(len(users), n_items, rng, cdf)
    if positives is None or len(positives) == 0:
        return items
    bad = np.flatnonzero(positives.contains(users, items))
    for _ in range(max_rounds):
        if len(bad) == 0:
            return items
        items[bad] = _draw(len(bad), n_items, rng, cdf)
        bad = bad[positives.contains(users[bad], items[bad])]
    _fill_from_complement(users, items, bad, n_items, rng, positives, probs)
    return items


def _fill_from_complement(
    users: np.ndarray,
    items: np.ndarray,
    bad: np.ndarray,
    n_items: int,
    rng: np.random.Generator,
    positives: PositiveSet,
    probs: np.ndarray | None,
) -> None:
    # Only users who have played almost everything get here, so a loop over them is cheap.
    for user in np.unique(users[bad]):
        slots = bad[users[bad] == user]
        free = np.setdiff1d(np.arange(n_items), positives.items_of(int(user)))
        if len(free) == 0:
            continue  # nothing is negative for this user; keep the draws rather than fail
        p = None if probs is None else probs[free] / probs[free].sum()
        items[slots] = rng.choice(free, size=len(slots), p=p)


def sampler_probs(
    kind: SamplerKind, train_items: np.ndarray, n_items: int, alpha: float = 0.75
) -> np.ndarray | None:
    """The item distribution for a sampler kind: `None` for uniform, `count ** alpha` otherwise.

    Args:
        kind: "uniform" or "popularity".
        train_items: Item index of every training interaction.
        n_items: Size of the item index space.
        alpha: Popularity exponent for the "popularity" sampler.

    Returns:
        Probabilities `[n_items]`, or `None` for uniform.
    """
    if kind == "uniform":
        return None
    if kind == "popularity":
        return popularity_distribution(item_counts(train_items, n_items), alpha)
    raise ValueError(f"sampler must be 'uniform' or 'popularity', got {kind!r}")


def sample_distinct_negatives(
    users: np.ndarray,
    n: int,
    n_items: int,
    rng: np.random.Generator,
    *,
    positives: PositiveSet | None = None,
    chunk_cells: int = 1 << 24,
) -> np.ndarray:
    """Draw `n` distinct negatives per user, uniformly from the items the user never played.

    The evaluation protocol of the NCF paper (99 negatives per held-out item). Each user gets a
    row of random keys over the catalogue, played items get +inf, and the `n` smallest keys win:
    sampling without replacement for all users at once, in chunks that bound the memory.

    Args:
        users: One entry per row of negatives wanted, `[m]`.
        n: Negatives per row.
        n_items: Size of the item index space.
        rng: Source of randomness (seeded for a reproducible evaluation).
        positives: Known pairs to exclude.
        chunk_cells: Upper bound on `rows * n_items` held in memory at once.

    Returns:
        Item indices `[m, n]`, int64. A user with fewer than `n` unplayed items gets played
        items in the remaining columns (there is nothing else to draw).
    """
    if not 0 < n < n_items:
        raise ValueError(f"need 0 < n < n_items to draw distinct negatives, got n={n}, {n_items=}")
    users = np.asarray(users, np.int64)
    out = np.empty((len(users), n), np.int64)
    rows_per_chunk = max(1, chunk_cells // max(n_items, 1))
    for start in range(0, len(users), rows_per_chunk):
        chunk = users[start : start + rows_per_chunk]
        keys = rng.random((len(chunk), n_items))  # [rows, n_items]
        if positives is not None and len(positives):
            lo = np.searchsorted(positives.keys, chunk * n_items)
            hi = np.searchsorted(positives.keys, (chunk + 1) * n_items)
            counts = hi - lo
            rows = np.repeat(np.arange(len(chunk)), counts)
            # flat positions of each row's known keys inside positives.keys
            flat = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
            keys[rows, positives.keys[flat] - chunk[rows] * n_items] = np.inf
        out[start : start + len(chunk)] = np.argpartition(keys, n - 1, axis=1)[:, :n]
    return out
