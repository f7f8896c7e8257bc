"""The live per-player state the service keeps between daily runs, pushed to the online store.

The daily snapshots (`features.py`) describe a player up to the last run. What happened since —
the slots played in the last minutes, the time on the slot being played now, the suggestion the
lobby may fetch, the onboarding answers — is written by the service through two push sources and
read back with `get_online_features`. Living in the online store (SQLite here, Redis at scale)
rather than in one worker's memory is what lets several workers and replicas share it.

Two views, because they change at different rates: play state changes with every heartbeat;
the profile (suggestion, onboarding) only when the service decides something. Writing one does
not rewrite the other.

Neither view is ever materialized: their batch sources exist only because Feast requires a push
source to name one (for offline pushes), and `feature_repo.store.materialize` loads the snapshot
views only. Built for a data layout (`live_views`), like the snapshot sources.
"""

from __future__ import annotations

from dataclasses import dataclass

from feast import FeatureView, Field, FileSource, PushSource
from feast.data_source import DataSource
from feast.types import String

from feature_repo.entities import user
from slotrec.core.settings import DataLayout

# The timestamp of each push: when the service wrote the state.
LIVE_TIMESTAMP = "live_updated_at"
PLAY_VIEW = "user_live_play"
PROFILE_VIEW = "user_live_profile"

WRITER_TAGS = {"writer": "bentos.realtime"}


@dataclass(frozen=True)
class LiveViews:
    """The live layer: two push sources and the views they feed."""

    play_push: PushSource
    profile_push: PushSource
    play: FeatureView
    profile: FeatureView

    def all(self) -> list[DataSource | FeatureView]:
        """What `feast apply` registers for the live layer (the `user` entity aside)."""
        return [self.play_push, self.profile_push, self.play, self.profile]


def _push_source(layout: DataLayout, view: str, description: str) -> PushSource:
    """The push source feeding `view`, with the parquet batch source Feast requires of one."""
    return PushSource(
        name=f"{view}_push",
        batch_source=FileSource(
            name=f"{view}_offline",
            path=str(layout.feature_export_dir / f"{view}.parquet"),
            timestamp_field=LIVE_TIMESTAMP,
        ),
        description=description,
        tags=WRITER_TAGS,
        owner="ml-platform@slotrec",
    )


def live_views(layout: DataLayout) -> LiveViews:
    """The live layer's definitions for the data directory `layout`."""
    play_push = _push_source(
        layout, PLAY_VIEW, "Play state written by the service on every accepted play event."
    )
    profile_push = _push_source(
        layout, PROFILE_VIEW, "Suggestions and onboarding answers written by the service."
    )
    # No ttl: the service prunes old plays itself (live_state_max_age_hours in the settings),
    # and onboarding answers must outlive any quiet period.
    play = FeatureView(
        name=PLAY_VIEW,
        entities=[user],
        schema=[
            # One JSON document (`bentos.realtime.store.PLAY_STATE_KEYS`): the slots played
            # since the last daily snapshot with when and how long, the session being played
            # (slot, id, start, time so far), the session whose threshold crossing was reported,
            # the last events applied, and when it was written. One feature, not ten: each
            # feature is a row of the online store, and a batch of 200 players' heartbeats spent
            # most of its time reading and writing 2,000 of them.
            Field(name="play_state_json", dtype=String),
        ],
        source=play_push,
        online=True,
        description="A player's plays since the last daily snapshot and the session played.",
        tags=WRITER_TAGS,
        owner="ml-platform@slotrec",
    )
    profile = FeatureView(
        name=PROFILE_VIEW,
        entities=[user],
        schema=[
            # JSON documents: their shape belongs to the service, not to the feature store.
            Field(name="suggestion_json", dtype=String),
            Field(name="onboarding_json", dtype=String),
        ],
        source=profile_push,
        online=True,
        description="The last kept next-slot suggestion and the onboarding answers of a player.",
        tags=WRITER_TAGS,
        owner="ml-platform@slotrec",
    )
    return LiveViews(play_push, profile_push, play, profile)
