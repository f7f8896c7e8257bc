"""Reading a few players' features from the online store, at serving speed.

`FeatureStore.get_online_features` answers a one-player read of the live state here in ~0.27 ms,
of which the SQLite queries are ~0.05 ms: the rest is resolving the feature references, building
a `GetOnlineFeaturesResponse` proto with a status per value, and turning it back into Python
(`to_dict`). Every `recommend` pays one such read, so it was a fifth of the request's own work.

`OnlineReader` reads the same rows through the same online store: in bulk (`sqlite_bulk`: one
SELECT per view of the requested features, values converted directly), or where that store's
layout does not allow it through `online_read` of the provider's store, one call per feature
view, with Feast's type map. The feature views are resolved once per registry version, as
`push.OnlinePusher` does for writes.
It returns what `get_online_features(...).to_dict()` returns, less the join key column;
`tests/test_realtime_store.py` checks the two agree, for players with and without rows.

Two things `get_online_features` does are deliberately not done:

- On-demand feature views and feature services: the reader takes plain views and feature names.
- Max age: Feast 0.67's online read does not filter by ttl either, and the views read here have
  none; `resolve` refuses a view with a ttl, so that cannot change silently.

The Redis online store's `get_online_features` reads every view in one pipelined round trip,
which beats one round trip per view; `uses_fast_path` says when this reader is worth using
(the SQLite store, read in-process).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from feast import FeatureStore, FeatureView
from feast.infra.online_stores.sqlite import SqliteOnlineStore
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.type_map import feast_value_type_to_python_type

from bentos.realtime import sqlite_bulk
from bentos.realtime.registry_cache import RegistryVersionCache


def uses_fast_path(store: FeatureStore) -> bool:
    """Whether `OnlineReader` is the faster read for this store (its online store is SQLite)."""
    return isinstance(store._get_provider().online_store, SqliteOnlineStore)


class OnlineReader:
    """Reads features of string-keyed entities from an open store's online store."""

    def __init__(self, store: FeatureStore) -> None:
        """Wrap an open feature store; nothing is resolved until the first read."""
        self._store = store
        self._views: RegistryVersionCache[FeatureView] = RegistryVersionCache(store)
        # the SQLite rows read in bulk (`sqlite_bulk`), where that store's layout allows it
        self._bulk = sqlite_bulk.SqliteBulk(store) if sqlite_bulk.usable(store) else None

    def resolve(self, view_name: str) -> FeatureView:
        """A feature view by name, cached per registry version.

        Raises:
            ValueError: the view has a ttl (its values would need a max-age check).
            feast.errors.FeatureViewNotFoundException: no such view.
        """
        return self._views.get(view_name, self._find)

    def _find(self, view_name: str) -> FeatureView:
        view = self._store.get_feature_view(view_name, allow_registry_cache=True)
        if view.ttl is not None and view.ttl.total_seconds() > 0:
            raise ValueError(
                f"feature view {view_name!r} has a ttl; read it with get_online_features"
            )
        return view

    def read(
        self, join_key: str, keys: Sequence[str], features: Mapping[str, Sequence[str]]
    ) -> dict[str, list[Any]]:
        """Feature values per feature name, one entry per key (None where there is no row).

        Args:
            join_key: The entity's join key (string-valued).
            keys: The entity keys, in the order the values come back.
            features: Feature view name → the feature names to read from it.

        Returns:
            Feature name → values aligned with `keys`, as `get_online_features(...).to_dict()`
            gives them (without the join key column).
        """
        if self._bulk is not None:
            views = [(self.resolve(name), names) for name, names in features.items()]
            return self._bulk.read(views, self._bulk.keys(join_key, keys))
        provider = self._store._get_provider()  # the provider get_online_features reads with
        config = self._store.config
        entity_keys = [
            EntityKeyProto(join_keys=[join_key], entity_values=[ValueProto(string_val=key)])
            for key in keys
        ]
        columns: dict[str, list[Any]] = {}
        for view_name, names in features.items():
            rows = provider.online_read(
                config=config,
                table=self.resolve(view_name),
                entity_keys=entity_keys,
                requested_features=list(names),
            )
            for name in names:
                columns[name] = [_value(values, name) for _, values in rows]
        return columns


def _value(values: Mapping[str, ValueProto] | None, name: str) -> Any:
    if not values or name not in values:
        return None
    return feast_value_type_to_python_type(values[name])
