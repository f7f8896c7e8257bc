"""Business rules a candidate must pass before it is scored.

A slot is dropped when the player already played it (history from the marts and plays since,
from the live state), when it is inactive, when it is not licensed in the player's country, or
when the caller excluded it. A slot the catalogue does not know is dropped too: the lobby could
not show it.

The catalogue rules (active, licensed) depend on the country only, so the catalogue evaluates
them once per country and catalogue version (`bentos.catalog.servable_slots`, cached by
`Catalog.servable`); a request then pays one set look-up per candidate.
"""

from __future__ import annotations

from collections.abc import Iterable


def allowed_slots(
    candidates: Iterable[str], servable: frozenset[str], blocked: set[str] | frozenset[str]
) -> list[str]:
    """The candidates that are servable and not blocked (played or excluded), in order."""
    return [s for s in candidates if s in servable and s not in blocked]
