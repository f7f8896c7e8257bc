"""Feature views: typed, documented columns over the sources, with how long a value stays valid."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource
from feast.types import Bool, FeastType, Float64, Int64, String

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


def _snapshot_view(
    name: str,
    entity: Entity,
    source: FileSource,
    fields: list[Field],
    description: str,
    ttl: timedelta | None = SNAPSHOT_TTL,
) -> FeatureView:
    """A view over one daily snapshot, tagged with the dbt mart it reads."""
    return FeatureView(
        name=name,
        entities=[entity],
        ttl=ttl,
        schema=fields,
        source=source,
        online=True,
        description=description,
        tags={"dbt_model": source.tags["dbt_model"]},
        owner="ml-platform@slotrec",
    )


def _fields(**dtypes: FeastType) -> list[Field]:
    """Feast fields from `name=dtype` pairs, in the order given."""
    return [Field(name=name, dtype=dtype) for name, dtype in dtypes.items()]


USER_ACTIVITY_FIELDS = _fields(
    days_since_last_play=Int64,
    active_days_30d=Int64,
    play_seconds_30d=Float64,
    session_count_30d=Int64,
    avg_session_seconds_30d=Float64,
    avg_bet_30d=Float64,
    stake_per_minute_30d=Float64,
    segment=String,
)
USER_TASTE_FIELDS = [
    *[Field(name=f"theme_share_{theme}", dtype=Float64) for theme in schema.THEMES],
    *[Field(name=f"volatility_share_{level}", dtype=Float64) for level in schema.VOLATILITY_LEVELS],
    *_fields(favourite_provider=String, favourite_provider_share=Float64),
]
SLOT_POPULARITY_FIELDS = _fields(
    players_1d=Int64,
    players_7d=Int64,
    players_30d=Int64,
    slot_play_seconds_1d=Float64,
    slot_play_seconds_7d=Float64,
    slot_play_seconds_30d=Float64,
    popularity_trend=Float64,
    slot_avg_session_seconds_30d=Float64,
    distinct_players_total=Int64,
    age_days=Int64,
)
PLAYER_RISK_FIELDS = _fields(
    session_count_7d=Int64,
    long_session_count_7d=Int64,
    night_session_share_7d=Float64,
    loss_chase_share_7d=Float64,
    play_seconds_recent_3d=Float64,
    play_time_growth=Float64,
    has_long_sessions=Bool,
    has_late_night_play=Bool,
    has_loss_chasing=Bool,
    has_escalating_play=Bool,
    risk_signal_count=Int64,
    risk_level=String,
)


def snapshot_views(sources: SnapshotSources) -> SnapshotViews:
    """The snapshot feature views over `sources`."""
    return SnapshotViews(
        user_activity=_snapshot_view(
            "user_activity",
            user,
            sources.user_features,
            USER_ACTIVITY_FIELDS,
            "How much and how recently a player plays.",
        ),
        user_taste=_snapshot_view(
            "user_taste",
            user,
            sources.user_features,
            USER_TASTE_FIELDS,
            "What a player likes: shares of 30-day play time by theme, volatility and provider.",
        ),
        slot_popularity=_snapshot_view(
            "slot_popularity",
            slot,
            sources.slot_features,
            SLOT_POPULARITY_FIELDS,
            "How much a slot is played, how that is trending, and how old it is.",
        ),
        # No ttl: the mart writes a player's rows while they play and a last 'none' row after
        # they stop, so the newest row is always the one to serve; a missed daily run must not
        # silently drop an at-risk player's guardrails.
        player_risk=_snapshot_view(
            "player_risk",
            user,
            sources.player_risk,
            PLAYER_RISK_FIELDS,
            "Responsible-play risk signals and level (none, elevated, high); the service's "
            "guardrails read risk_level with the player's live state.",
            ttl=timedelta(days=0),  # Feast's 'no ttl'
        ),
    )
