"""The admin endpoints: register a game (`slots`), restrict a player, adopt a new bundle.

They need the admin token (`bentos.guard`). A registered game is live in every worker's index
within a poll; a restriction holds from the next request on, in every worker; a reload swaps the
bundle in this worker and asks the others to follow.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bentos import api, metrics
from bentos.errors import Conflict
from bentos.serving_state import ServingState


class Admin:
    """`slots`, `restrictions` and `reload` of one worker."""

    def __init__(self, state: ServingState) -> None:
        self.state = state

    def slots(self, registration: api.SlotRegistration) -> api.SlotRegistered:
        """Register a new or changed game: live in every worker's index in seconds."""
        status = self.state.registry.register(registration.model_dump(mode="json"))
        self.state.poll(force=True)
        snapshot = self.state.snapshot
        in_index = snapshot is not None and registration.slot_id in snapshot.live.rows
        metrics.REQUESTS.labels(endpoint="slots", outcome="ok").inc()
        return api.SlotRegistered(
            slot_id=registration.slot_id,
            status=status,
            in_index=in_index,
            exploration=registration.slot_id in self.state.pools.exploring,
        )

    def restrictions(self, change: api.RestrictionChange) -> api.RestrictionStatus:
        """Set or lift a player's self-exclusion or cooling-off: in force at once."""
        registry = self.state.restriction_registry
        if change.action == "set":
            assert change.kind is not None  # the request model requires it to set
            registry.set(change.user_id, change.kind, change.until_at, "admin", change.reason)
            changed = True
        else:
            changed = registry.remove(change.user_id, "admin")
        now = datetime.now(UTC)
        rows = registry.of(change.user_id)
        metrics.REQUESTS.labels(endpoint="restrictions", outcome="ok").inc()
        return api.RestrictionStatus(
            user_id=change.user_id,
            changed=changed,
            restricted=any(r.in_force(now) for r in rows),
            restrictions=[
                api.RestrictionEntry(
                    kind=r.kind,
                    until_at=r.until_at.isoformat() if r.until_at else None,
                    source=r.source,
                    in_force=r.in_force(now),
                    reason=r.reason,
                )
                for r in rows
            ],
        )

    def reload(self) -> api.ReloadResponse:
        """Adopt the promoted bundle; every other worker follows within a poll.

        Raises:
            Conflict: the promoted bundle is missing or unreadable; the old one keeps serving.
        """
        previous, current, loaded = self.state.reload()
        if not loaded:
            metrics.REQUESTS.labels(endpoint="reload", outcome="refused").inc()
            raise Conflict(f"reload refused, still serving {previous}: {self.state.bundle_error}")
        if current != previous:
            metrics.REQUESTS.labels(endpoint="reload", outcome="ok").inc()
        return api.ReloadResponse(
            previous_version=previous, model_version=current, changed=current != previous
        )
