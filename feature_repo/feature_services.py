"""Feature services: the feature contracts, one per consumer.

Whoever reads features asks Feast for a service, never for a hand-written list of references:
training offline (`get_historical_features`, point-in-time), serving and the CLI online
(`get_online_features`). The feature lists are the services' projections, so adding a feature
to a view reaches every consumer of a service over it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from feast import FeatureService

from feature_repo.features import SnapshotViews
from feature_repo.live_state import LiveViews

# The services' names, for the readers that ask for them.
RANKING = "ranking_v1"
USER_PROFILE = "user_profile_v1"
SLOT_PROFILE = "slot_profile_v1"
RISK_PROFILE = "risk_profile_v1"
EVALUATION_GROUPS = "evaluation_groups_v1"
LIVE_STATE = "live_state_v1"


@dataclass(frozen=True)
class FeatureServices:
    """Every feature service of the repo."""

    ranking: FeatureService
    user_profile: FeatureService
    slot_profile: FeatureService
    risk_profile: FeatureService
    evaluation_groups: FeatureService
    live_state: FeatureService

    def all(self) -> list[FeatureService]:
        """Every service, for `apply`."""
        return [
            self.ranking,
            self.user_profile,
            self.slot_profile,
            self.risk_profile,
            self.evaluation_groups,
            self.live_state,
        ]


def _service(name: str, features: list[Any], description: str, consumer: str) -> FeatureService:
    """A feature service, tagged with who reads it."""
    return FeatureService(
        name=name,
        features=features,
        description=description,
        tags={"consumer": consumer},
        owner="ml-platform@slotrec",
    )


def feature_services(views: SnapshotViews, live: LiveViews) -> FeatureServices:
    """The services over the snapshot and live views."""
    return FeatureServices(
        ranking=_service(
            RANKING,
            [views.user_activity, views.user_taste, views.slot_popularity],
            "Everything the ranker could read about a player and a candidate slot.",
            consumer="ranking features (none read yet: NeuMF scores ids)",
        ),
        user_profile=_service(
            USER_PROFILE,
            [views.user_activity, views.user_taste],
            "A player's activity and tastes, as `slotrec features` shows them.",
            consumer="cli",
        ),
        slot_profile=_service(
            SLOT_PROFILE,
            [views.slot_popularity],
            "A slot's popularity and age.",
            consumer="cli",
        ),
        risk_profile=_service(
            RISK_PROFILE,
            [views.player_risk],
            "A player's responsible-play risk signals and level.",
            consumer="monitoring",
        ),
        evaluation_groups=_service(
            EVALUATION_GROUPS,
            [views.user_activity[["segment"]]],
            "The groups the retrain's evaluation reports apart: a player's segment, point in time.",
            consumer="training",
        ),
        live_state=_service(
            LIVE_STATE,
            [live.play, live.profile, views.player_risk[["risk_level"]]],
            "What the service reads of a player on every request: the live play "
            "state, the kept suggestion and onboarding answers, and the daily risk level.",
            consumer="serving",
        ),
    )
