"""Offline sources: parquet snapshots exported from the dbt feature marts.

Each mart is a daily snapshot (one row per entity per day, stamped with `feature_timestamp`, the
end of the day it describes), which is what makes Feast's point-in-time join honest: a training
row labelled at time t only sees snapshots stamped at or before t.
"""

from feast import FileSource

from slotrec.core import schema
from slotrec.core.settings import get_settings

_export_dir = get_settings().layout.feature_export_dir

user_features_source = FileSource(
    name="user_features_source",
    path=str(_export_dir / "user_features.parquet"),
    timestamp_field=schema.FEATURE_TIMESTAMP,
    description="Daily per-player activity and taste snapshot.",
    tags={"dbt_model": "user_features"},
    owner="ml-platform@slotrec",
)

# The slot mart's play-time columns share their names with the player mart's; Feast joins both
# into one training row, so the slot ones are renamed here rather than in the warehouse.
SLOT_FIELD_MAPPING = {
    "play_seconds_1d": "slot_play_seconds_1d",
    "play_seconds_7d": "slot_play_seconds_7d",
    "play_seconds_30d": "slot_play_seconds_30d",
    "avg_session_seconds_30d": "slot_avg_session_seconds_30d",
}

slot_features_source = FileSource(
    name="slot_features_source",
    path=str(_export_dir / "slot_features.parquet"),
    timestamp_field=schema.FEATURE_TIMESTAMP,
    field_mapping=SLOT_FIELD_MAPPING,
    description="Daily per-slot popularity and engagement snapshot.",
    tags={"dbt_model": "slot_features"},
    owner="ml-platform@slotrec",
)

player_risk_source = FileSource(
    name="player_risk_source",
    path=str(_export_dir / "player_risk.parquet"),
    timestamp_field=schema.FEATURE_TIMESTAMP,
    description="Daily per-player responsible-play risk signals and level.",
    tags={"dbt_model": "player_risk"},
    owner="ml-platform@slotrec",
)
