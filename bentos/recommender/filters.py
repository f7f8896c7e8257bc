"""Business rules a candidate must pass before it is scored.

A slot is dropped when the player already played it (history from the marts and plays since,
from the live state), when it is inactive, when it is not licensed in the player's country, or
when the caller excluded it. A slot the catalogue does not know is dropped too: the lobby could
not show it.

The catalogue rules (active, licensed) depend on the country only, so they are evaluated once per
country and catalogue version (`servable_slots`, cached by `Catalog.servable`); a request then
pays one set look-up per candidate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bentos.catalog import SlotInfo


def servable_slots(slots: Mapping[str, SlotInfo], country: str | None) -> frozenset[str]:
    """Active slots licensed in `country`; None (unknown country) skips the licence rule.

    A slot without recorded jurisdictions is treated as licensed everywhere.
    """
    return frozenset(
        slot_id
        for slot_id, info in slots.items()
        if info.is_active
        and (country is None or not info.jurisdictions or country in info.jurisdictions)
    )


def allowed_slots(
    candidates: Iterable[str], servable: frozenset[str], blocked: set[str] | frozenset[str]
) -> list[str]:
    """The candidates that are servable and not blocked (played or excluded), in order."""
    return [s for s in candidates if s in servable and s not in blocked]
