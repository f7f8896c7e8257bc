"""Which bundle serves: the promotion gate, promotion and rollback.

The promoted bundle is named by one small JSON file (`<data>/models/promoted.json`) holding the
current tag and the tags promoted before it. Promotion and rollback each rewrite that file with
one atomic rename, so a reader (the service's `reload`) sees the old bundle or the new one,
never a mixture; the bundles themselves stay immutable in the BentoML model store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from slotrec.core.atomic import write_json_atomic

# A new bundle may trail the promoted one on validation NDCG@10 by at most this much (absolute):
# day-to-day noise on a fresh validation window is of this order, and refusing every bundle that
# is a hair worse would freeze the model while the catalogue and players move on.
NDCG_TOLERANCE = 0.005


class PromotionError(Exception):
    """Promotion or rollback is not possible (nothing to roll back to, unknown tag, …)."""


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict on a candidate bundle, with the numbers it compared."""

    promote: bool
    reason: str
    candidate_ndcg10: float
    promoted_ndcg10: float | None
    popularity_ndcg10: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def gate(
    candidate_metrics: dict[str, Any],
    promoted_metrics: dict[str, Any] | None,
    tolerance: float = NDCG_TOLERANCE,
) -> GateDecision:
    """Decide whether a candidate bundle may replace the promoted one.

    Both conditions must hold, on the candidate's own validation split:
    it beats the popularity baseline, and it is not worse than the promoted bundle's validation
    NDCG@10 by more than `tolerance`.
    """
    candidate = float(candidate_metrics["validation"]["neumf"]["ndcg10"])
    popularity = float(candidate_metrics["validation"]["popularity"]["ndcg10"])
    promoted = (
        float(promoted_metrics["validation"]["neumf"]["ndcg10"]) if promoted_metrics else None
    )
    if candidate <= popularity:
        return GateDecision(
            False,
            f"NDCG@10 {candidate:.4f} does not beat popularity ({popularity:.4f})",
            candidate,
            promoted,
            popularity,
        )
    if promoted is not None and candidate < promoted - tolerance:
        return GateDecision(
            False,
            f"NDCG@10 {candidate:.4f} is below the promoted bundle's {promoted:.4f} "
            f"by more than {tolerance}",
            candidate,
            promoted,
            popularity,
        )
    return GateDecision(True, "passes the gate", candidate, promoted, popularity)


class PromotionRegistry:
    """The pointer to the promoted bundle, and its history, in one atomic JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"current": None, "history": []}
        return json.loads(self.path.read_text())

    @property
    def current(self) -> str | None:
        """The tag of the promoted bundle, or None before the first promotion."""
        return self._read()["current"]

    def history(self) -> list[dict[str, Any]]:
        """Earlier promotions, newest last."""
        return list(self._read()["history"])

    def promote(self, tag: str, decision: dict[str, Any] | None = None) -> None:
        """Make `tag` the promoted bundle (one atomic rename)."""
        state = self._read()
        if state["current"] == tag:
            return
        if state["current"] is not None:
            state["history"].append(state["current_entry"])
        state["current"] = tag
        state["current_entry"] = {
            "tag": tag,
            "promoted_at": datetime.now(UTC).isoformat(),
            "decision": decision,
        }
        write_json_atomic(self.path, state)

    def rollback(self) -> str:
        """Restore the previously promoted bundle (one atomic rename); returns its tag.

        Raises:
            PromotionError: there is no earlier promotion to go back to.
        """
        state = self._read()
        if not state["history"]:
            raise PromotionError(
                f"nothing to roll back to: {state['current'] or 'no bundle'} is the only "
                "promotion on record"
            )
        previous = state["history"].pop()
        state["current"] = previous["tag"]
        state["current_entry"] = {
            **previous,
            "restored_at": datetime.now(UTC).isoformat(),
        }
        write_json_atomic(self.path, state)
        return str(previous["tag"])
