"""Feature services: the feature contracts, one per consumer.

Whoever reads features asks Feast for a service, never for a hand-written list of references:
training offline (`get_historical_features`, point-in-time), serving and the CLI online
(`get_online_features`). The feature lists are the services' projections, so adding a feature
to a view reaches every consumer of a service over it.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def feature_services(views: SnapshotViews, live: LiveViews) -> FeatureServices:
    """The services over the snapshot and live views."""
    return FeatureServices(
        ranking=FeatureService(
            name=RANKING,
            features=[views.user_activity, views.user_taste, views.slot_popularity],
            description="Everything the ranker could read about a player and a candidate slot.",
            tags={"consumer": "ranking features (none read yet: NeuMF scores ids)"},
            owner="ml-platform@slotrec",
        ),
        user_profile=FeatureService(
            name=USER_PROFILE,
            features=[views.user_activity, views.user_taste],
            description="A player's activity and tastes, as `slotrec features` shows them.",
            tags={"consumer": "cli"},
            owner="ml-platform@slotrec",
        ),
        slot_profile=FeatureService(
            name=SLOT_PROFILE,
            features=[views.slot_popularity],
            description="A slot's popularity and age.",
            tags={"consumer": "cli"},
            owner="ml-platform@slotrec",
        ),
        risk_profile=FeatureService(
            name=RISK_PROFILE,
            features=[views.player_risk],
            description="A player's responsible-play risk signals and level.",
            tags={"consumer": "monitoring"},
            owner="ml-platform@slotrec",
        ),
        evaluation_groups=FeatureService(
            name=EVALUATION_GROUPS,
            features=[views.user_activity[["segment"]]],
            description="The groups the retrain's evaluation reports apart: a player's segment, "
            "point in time.",
            tags={"consumer": "training"},
            owner="ml-platform@slotrec",
        ),
        live_state=FeatureService(
            name=LIVE_STATE,
            features=[live.play, live.profile, views.player_risk[["risk_level"]]],
            description="What the service reads of a player on every request: the live play "
            "state, the kept suggestion and onboarding answers, and the daily risk level.",
            tags={"consumer": "serving"},
            owner="ml-platform@slotrec",
        ),
    )
