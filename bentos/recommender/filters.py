"""Business rules a candidate must pass before it is scored.

A slot is dropped when the player already played it (history from the marts and plays since,
from the live state), when it is inactive, when it is not licensed in the player's country, or
when the caller excluded it. A slot the catalogue does not know is dropped too: the lobby could
not show it.
"""

from __future__ import annotations

from collections.abc import Iterable

from bentos.catalog import SlotInfo


def allowed_slots(
    candidates: Iterable[str],
    slots: dict[str, SlotInfo],
    *,
    blocked: set[str],
    country: str | None,
) -> list[str]:
    """The candidates that pass every rule, in their original order.

    Args:
        candidates: Slot ids to check.
        slots: The catalogue.
        blocked: Slots already played or excluded by the caller.
        country: The player's country; None (unknown) skips the jurisdiction rule.
    """
    kept = []
    for slot_id in candidates:
        info = slots.get(slot_id)
        if info is None or not info.is_active or slot_id in blocked:
            continue
        if country is not None and info.jurisdictions and country not in info.jurisdictions:
            continue
        kept.append(slot_id)
    return kept
