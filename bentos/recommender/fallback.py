"""The list of last resort: popular slots, still under the rules that can be checked."""

from __future__ import annotations

from bentos.api import RecommendedSlot
from bentos.catalog import Catalog
from bentos.recommender.filters import allowed_slots
from bentos.recommender.reasons import FALLBACK


def popular_fallback(
    catalog: Catalog,
    user_id: str,
    k: int,
    *,
    exclude: frozenset[str],
    played: set[str],
    bundle_popular: list[str] | None = None,
) -> list[RecommendedSlot]:
    """The segment's popular slots the player may see, most popular first.

    Uses the warehouse's popularity when the catalogue is there; otherwise the bundle's list
    (no catalogue rules can be checked then, only the caller's exclusions and known plays).
    """
    player = catalog.players.get(user_id)
    blocked = set(exclude) | played | set(catalog.played(user_id))
    if catalog.slots:
        popular = catalog.popular_for(player.segment if player else None)
        kept = allowed_slots(popular, catalog.servable(player.country if player else None), blocked)
    else:
        kept = [s for s in bundle_popular or [] if s not in blocked]
    n = max(len(kept), 1)
    return [
        RecommendedSlot(
            slot_id=slot_id,
            name=(info.name if (info := catalog.slots.get(slot_id)) else None),
            score=round(1.0 - rank / n, 6),
            reason=FALLBACK,  # type: ignore[arg-type]
        )
        for rank, slot_id in enumerate(kept[:k])
    ]
