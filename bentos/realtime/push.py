"""Pushing rows to the online store through a push source, at serving speed.

`FeatureStore.push(name, df, to=PushMode.ONLINE)` does three things: find the feature views fed
by the push source, write the rows to each (`write_to_online_store` → provider
`online_write_batch`), and recompute the feature services marked `precompute_online`. On
Feast 0.67 that costs ~35 ms a call here, almost none of it writing: it rebuilds every feature
view from the registry proto twice, goes through pandas and Arrow for one row, and the precompute
step lists feature services *without* the registry cache, rereading `registry.db` from disk.
That reread also changes the registry's timestamp, which empties the cache `get_online_features`
keeps its feature resolution in, so every read after a push pays ~1 ms more.

`OnlinePusher` does the same writes with the lookups cached: the push source's feature views are
resolved once per registry version (Feast's own matching rule: views whose `stream_source` is the
push source); on the SQLite store the rows are upserted in bulk (`sqlite_bulk`: one
`executemany` per view), elsewhere values become protos with Feast's type map and the provider
writes them. The
precompute step is skipped because no feature service here sets `precompute_online`; `resolve`
refuses a push source feeding one, so that cannot change silently.
`tests/test_realtime_store.py` checks the rows read back equal those of `FeatureStore.push`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from feast import FeatureStore, FeatureView
from feast.data_source import PushSource
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.type_map import python_values_to_proto_values
from feast.value_type import ValueType

from bentos.realtime import sqlite_bulk
from bentos.realtime.registry_cache import RegistryVersionCache


class OnlinePusher:
    """Writes rows to every feature view of a push source, online only (one per store)."""

    def __init__(self, store: FeatureStore) -> None:
        """Wrap an open feature store; nothing is resolved until the first push."""
        self._store = store
        self._views: RegistryVersionCache[list[FeatureView]] = RegistryVersionCache(store)
        # the SQLite rows written in bulk (`sqlite_bulk`), where that store's layout allows it
        self._bulk = sqlite_bulk.SqliteBulk(store) if sqlite_bulk.usable(store) else None

    def resolve(self, push_source_name: str) -> list[FeatureView]:
        """The feature views fed by a push source, cached per registry version.

        Raises:
            LookupError: no feature view is fed by this push source.
            NotImplementedError: a feature service over one of them precomputes online vectors
                (only `FeatureStore.push` knows how to refresh those).
        """
        return self._views.get(push_source_name, self._find)

    def push(
        self,
        push_source_name: str,
        join_key: str,
        rows: Sequence[Mapping[str, Any]],
        timestamp: datetime,
    ) -> None:
        """Write rows (join key plus every feature of the views) to the online store.

        Args:
            push_source_name: The push source, as registered.
            join_key: The entity's join key column in `rows` (a string key).
            rows: One mapping per entity: the join key and each feature's Python value.
            timestamp: The event time stamped on every row (UTC).
        """
        if not rows:
            return
        if self._bulk is not None:
            serialized = self._bulk.keys(join_key, [r[join_key] for r in rows])
            for view in self.resolve(push_source_name):
                self._bulk.write(view, serialized, rows, timestamp)
            return
        provider = self._store._get_provider()  # the same provider FeatureStore.push writes with
        keys = [
            EntityKeyProto(join_keys=[join_key], entity_values=[ValueProto(string_val=r[join_key])])
            for r in rows
        ]
        for view in self.resolve(push_source_name):
            columns = {
                f.name: python_values_to_proto_values(
                    [r[f.name] for r in rows], _value_type(f.dtype)
                )
                for f in view.features
            }
            data: list[tuple[EntityKeyProto, dict[str, ValueProto], datetime, datetime | None]] = [
                (key, {name: protos[i] for name, protos in columns.items()}, timestamp, timestamp)
                for i, key in enumerate(keys)
            ]
            provider.online_write_batch(self._store.config, view, data, progress=None)

    def _find(self, push_source_name: str) -> list[FeatureView]:
        views = [
            view
            for view in self._store.list_feature_views(allow_cache=True)
            if isinstance(view.stream_source, PushSource)
            and view.stream_source.name == push_source_name
        ]
        if not views:
            raise LookupError(f"no feature view is fed by push source {push_source_name!r}")
        names = {v.name for v in views}
        # allow_cache: a reread would change the registry version this cache is keyed on.
        registry = self._store.registry
        for service in registry.list_feature_services(self._store.project, allow_cache=True):
            precomputes = getattr(service, "precompute_online", False)
            if precomputes and names & {p.name for p in service.feature_view_projections}:
                raise NotImplementedError(
                    f"feature service {service.name!r} precomputes vectors over {sorted(names)}; "
                    "use FeatureStore.push"
                )
        return views


def _value_type(dtype: Any) -> ValueType:
    return dtype.to_value_type()  # a feast.types type (String, Array(Float64), ...)
