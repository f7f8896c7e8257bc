"""Every definition of the feature repo, built for one data directory.

The definitions are functions of a `DataLayout` (sources and push sources name files under it),
gathered here into one object: what `apply` registers, what `materialize` loads, and the
contracts readers ask for by name. Nothing reads settings at import, so two data directories
can be served from one process and a test can build its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from feast import FeatureService, FeatureView, FileSource

from feature_repo import entities
from feature_repo.data_sources import snapshot_sources
from feature_repo.feature_services import FeatureServices, feature_services
from feature_repo.features import SnapshotViews, snapshot_views
from feature_repo.live_state import LiveViews, live_views
from slotrec.core.settings import DataLayout


@dataclass(frozen=True)
class FeatureRepo:
    """The entities, snapshot views, live layer and feature services of one data directory."""

    snapshots: SnapshotViews
    live: LiveViews
    services: FeatureServices

    def definitions(self) -> list[Any]:
        """Everything `feast apply` registers."""
        return [
            entities.user,
            entities.slot,
            *self.snapshots.all(),
            *self.services.all(),
            *self.live.all(),
        ]

    def exported_marts(self) -> dict[str, str]:
        """dbt mart → the join key its snapshot file is ordered by, from the views' sources."""
        join_keys = {e.name: e.join_key for e in (entities.user, entities.slot)}
        marts: dict[str, str] = {}
        for view in self.snapshots.all():
            source = view.batch_source
            assert isinstance(source, FileSource)
            marts[source.tags["dbt_model"]] = join_keys[view.entities[0]]
        return marts

    def service(self, name: str) -> FeatureService:
        """A feature service by name.

        Raises:
            KeyError: the repo defines no such service.
        """
        for service in self.services.all():
            if service.name == name:
                return service
        raise KeyError(f"no feature service {name!r}")


def feature_repo(layout: DataLayout) -> FeatureRepo:
    """The repo's definitions for the data directory `layout`."""
    live = live_views(layout)
    snapshots = snapshot_views(snapshot_sources(layout))
    return FeatureRepo(snapshots, live, feature_services(snapshots, live))


def view_features(service: FeatureService) -> dict[str, tuple[str, ...]]:
    """A service's feature lists: view name → the feature names it projects, in order."""
    return {
        projection.name: tuple(field.name for field in projection.features)
        for projection in service.feature_view_projections
    }


def snapshot_view_names(repo: FeatureRepo) -> list[str]:
    """The views loaded from the daily snapshots (never the live ones, fed by pushes)."""
    views: list[FeatureView] = repo.snapshots.all()
    return [view.name for view in views]
