"""Feature views: typed, documented columns over the sources, with how long a value stays valid."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from feast import FeatureView, Field
from feast.types import Bool, Float64, Int64, String

from feature_repo.data_sources import SnapshotSources
from feature_repo.entities import slot, user
from slotrec.core import schema

# A snapshot is rewritten every day; two days of ttl tolerates one missed daily run before a
# point-in-time join or an online read treats the player as unknown.
SNAPSHOT_TTL = timedelta(days=2)


@dataclass(frozen=True)
class SnapshotViews:
    """The feature views over the daily snapshots (what `materialize` loads online)."""

    user_activity: FeatureView
    user_taste: FeatureView
    slot_popularity: FeatureView
    player_risk: FeatureView

    def all(self) -> list[FeatureView]:
        """Every snapshot view."""
        return [self.user_activity, self.user_taste, self.slot_popularity, self.player_risk]


def snapshot_views(sources: SnapshotSources) -> SnapshotViews:
    """The snapshot feature views over `sources`."""
    user_activity = FeatureView(
        name="user_activity",
        entities=[user],
        ttl=SNAPSHOT_TTL,
        schema=[
            Field(name="days_since_last_play", dtype=Int64),
            Field(name="active_days_30d", dtype=Int64),
            Field(name="play_seconds_30d", dtype=Float64),
            Field(name="session_count_30d", dtype=Int64),
            Field(name="avg_session_seconds_30d", dtype=Float64),
            Field(name="avg_bet_30d", dtype=Float64),
            Field(name="stake_per_minute_30d", dtype=Float64),
            Field(name="segment", dtype=String),
        ],
        source=sources.user_features,
        online=True,
        description="How much and how recently a player plays.",
        tags={"dbt_model": "user_features"},
        owner="ml-platform@slotrec",
    )

    user_taste = FeatureView(
        name="user_taste",
        entities=[user],
        ttl=SNAPSHOT_TTL,
        schema=[
            *[Field(name=f"theme_share_{theme}", dtype=Float64) for theme in schema.THEMES],
            *[
                Field(name=f"volatility_share_{level}", dtype=Float64)
                for level in schema.VOLATILITY_LEVELS
            ],
            Field(name="favourite_provider", dtype=String),
            Field(name="favourite_provider_share", dtype=Float64),
        ],
        source=sources.user_features,
        online=True,
        description="What a player likes: shares of 30-day play time by theme, volatility and "
        "provider.",
        tags={"dbt_model": "user_features"},
        owner="ml-platform@slotrec",
    )

    slot_popularity = FeatureView(
        name="slot_popularity",
        entities=[slot],
        ttl=SNAPSHOT_TTL,
        schema=[
            Field(name="players_1d", dtype=Int64),
            Field(name="players_7d", dtype=Int64),
            Field(name="players_30d", dtype=Int64),
            Field(name="slot_play_seconds_1d", dtype=Float64),
            Field(name="slot_play_seconds_7d", dtype=Float64),
            Field(name="slot_play_seconds_30d", dtype=Float64),
            Field(name="popularity_trend", dtype=Float64),
            Field(name="slot_avg_session_seconds_30d", dtype=Float64),
            Field(name="distinct_players_total", dtype=Int64),
            Field(name="age_days", dtype=Int64),
        ],
        source=sources.slot_features,
        online=True,
        description="How much a slot is played, how that is trending, and how old it is.",
        tags={"dbt_model": "slot_features"},
        owner="ml-platform@slotrec",
    )

    player_risk = FeatureView(
        name="player_risk",
        entities=[user],
        # No ttl: the mart writes a player's rows while they play and a last 'none' row after they
        # stop, so the newest row is always the one to serve; a missed daily run must not silently
        # drop an at-risk player's guardrails.
        schema=[
            Field(name="session_count_7d", dtype=Int64),
            Field(name="long_session_count_7d", dtype=Int64),
            Field(name="night_session_share_7d", dtype=Float64),
            Field(name="loss_chase_share_7d", dtype=Float64),
            Field(name="play_seconds_recent_3d", dtype=Float64),
            Field(name="play_time_growth", dtype=Float64),
            Field(name="has_long_sessions", dtype=Bool),
            Field(name="has_late_night_play", dtype=Bool),
            Field(name="has_loss_chasing", dtype=Bool),
            Field(name="has_escalating_play", dtype=Bool),
            Field(name="risk_signal_count", dtype=Int64),
            Field(name="risk_level", dtype=String),
        ],
        source=sources.player_risk,
        online=True,
        description="Responsible-play risk signals and level (none, elevated, high); the service's "
        "guardrails read risk_level with the player's live state.",
        tags={"dbt_model": "player_risk"},
        owner="ml-platform@slotrec",
    )

    return SnapshotViews(user_activity, user_taste, slot_popularity, player_risk)
