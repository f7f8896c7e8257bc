"""Feature services: the model's feature contract.

Training asks Feast for a service offline (point-in-time) and serving asks for the same service
online, so the two cannot drift apart.
"""

from feast import FeatureService

from feature_repo.features import player_risk, slot_popularity, user_activity, user_taste

ranking_features = FeatureService(
    name="ranking_v1",
    features=[user_activity, user_taste, slot_popularity],
    description="Everything the ranker reads about a player and a candidate slot.",
    tags={"consumer": "training+serving"},
    owner="ml-platform@slotrec",
)

user_profile = FeatureService(
    name="user_profile_v1",
    features=[user_activity, user_taste],
    description="A player's activity and tastes: segment, cold-start steering, guardrails.",
    tags={"consumer": "serving"},
    owner="ml-platform@slotrec",
)

slot_profile = FeatureService(
    name="slot_profile_v1",
    features=[slot_popularity],
    description="A slot's popularity and age: exploration and new-game graduation.",
    tags={"consumer": "serving"},
    owner="ml-platform@slotrec",
)

risk_profile = FeatureService(
    name="risk_profile_v1",
    features=[player_risk],
    description="A player's responsible-play risk signals and level: the serving guardrails.",
    tags={"consumer": "serving"},
    owner="ml-platform@slotrec",
)
