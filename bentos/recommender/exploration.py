"""Exploration: a bounded share of some players' lists goes to slots the model cannot vouch for.

Only players in the exploration segment (a fixed hash bucket, `exploration_user_share` of all
players) see exploration, and then at most `round(k * exploration_share)` items of a list. New
games in their exploration stage come first, the closest to the player's taste first; the rest
of the share is drawn from deeper in the candidate pool (rank > 2k), so the model learns about
slots it would otherwise never show.
"""

from __future__ import annotations

import random

from slotrec.core.policies.experiments import bucket

EXPLORATION_SALT = "exploration-segment"


def in_exploration_segment(user_id: str, user_share: float) -> bool:
    """Whether the player belongs to the exploration segment (stable per player)."""
    return bucket(EXPLORATION_SALT, user_id) < user_share


def exploration_slots(k: int, share: float) -> int:
    """How many of k items may be exploration: k * share rounded, never more than half."""
    return min(int(k * share + 0.5), k // 2)


def pick_exploration(
    new_games: list[str], ranked: list[str], k: int, n: int, seed: int
) -> tuple[list[str], list[str]]:
    """Choose up to `n` exploration items: new games first, then deep candidates.

    Args:
        new_games: Exploring new games that passed the filters, best match first.
        ranked: The scored candidates, best first.
        k: The list length.
        n: The exploration budget.
        seed: Per-request seed, so one request is reproducible.

    Returns:
        (new games picked, other exploration picks).
    """
    if n <= 0:
        return [], []
    picked_new = new_games[:n]
    deep = [s for s in ranked[2 * k :] if s not in set(picked_new)]
    extra = random.Random(seed).sample(deep, min(n - len(picked_new), len(deep)))
    return picked_new, extra


def interleave(exploit: list[str], explore: list[str], k: int) -> list[str]:
    """Spread the exploration items through the list (not all at the bottom), k items total."""
    out = list(exploit[: k - len(explore)])
    for j, slot_id in enumerate(explore):
        position = min((j + 1) * k // (len(explore) + 1), len(out))
        out.insert(position, slot_id)
    return out[:k]
