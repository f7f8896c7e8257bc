"""Offline sources: parquet snapshots exported from the dbt feature marts.

Each mart is a daily snapshot (one row per entity per day, stamped with `feature_timestamp`, the
end of the day it describes), which is what makes Feast's point-in-time join honest: a training
row labelled at time t only sees snapshots stamped at or before t.

The sources are built for a data layout (`snapshot_sources`), never from settings read at
import: the same definitions serve a laptop, a test's temporary folder and a production box in
one process.
"""

from __future__ import annotations

from dataclasses import dataclass

from feast import FileSource

from slotrec.core import schema
from slotrec.core.settings import DataLayout

# The slot mart's play-time columns share their names with the player mart's; Feast joins both
# into one training row, so the slot ones are renamed here rather than in the warehouse.
SLOT_FIELD_MAPPING = {
    "play_seconds_1d": "slot_play_seconds_1d",
    "play_seconds_7d": "slot_play_seconds_7d",
    "play_seconds_30d": "slot_play_seconds_30d",
    "avg_session_seconds_30d": "slot_avg_session_seconds_30d",
}


@dataclass(frozen=True)
class SnapshotSources:
    """The exported daily snapshots, one source per dbt mart (its `dbt_model` tag)."""

    user_features: FileSource
    slot_features: FileSource
    player_risk: FileSource


def _snapshot(layout: DataLayout, mart: str, description: str, **options: object) -> FileSource:
    return FileSource(
        name=f"{mart}_source",
        path=str(layout.feature_export_dir / f"{mart}.parquet"),
        timestamp_field=schema.FEATURE_TIMESTAMP,
        description=description,
        tags={"dbt_model": mart},
        owner="ml-platform@slotrec",
        **options,  # type: ignore[arg-type]
    )


def snapshot_sources(layout: DataLayout) -> SnapshotSources:
    """The snapshot sources of the feature files under `layout`."""
    return SnapshotSources(
        user_features=_snapshot(layout, "user_features", "Daily per-player activity and taste."),
        slot_features=_snapshot(
            layout,
            "slot_features",
            "Daily per-slot popularity and engagement snapshot.",
            field_mapping=SLOT_FIELD_MAPPING,
        ),
        player_risk=_snapshot(
            layout, "player_risk", "Daily per-player responsible-play risk signals and level."
        ),
    )
