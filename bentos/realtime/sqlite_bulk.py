"""The SQLite online store's rows, read and written a batch of players at a time.

Feast's `SqliteOnlineStore` keeps one row per entity and feature (entity key, feature name, the
value as `ValueProto` bytes, its text, event and created time). Its `online_write_batch` runs one
`INSERT ... ON CONFLICT` per row, and its `online_read` fetches every row's timestamp through
a converter and parses every feature of the view. On a batch of 200 players' heartbeats (2,000
rows of the play view, 2,600 rows read over three views) that was 23 ms of writing and 39 ms of
reading, most of an `events` call (measured 2026-12-04 with cProfile on the 100k-player bench
world); Feast's generic type map, used both ways, added another 13 ms.

`SqliteBulk` keeps Feast's tables and rows exactly (same table names, serialized entity keys,
value bytes, `value_text`, epoch timestamps) and Feast's one connection, and does the work in
bulk: one `executemany` for a view's upserts in one transaction, one SELECT per view of the
requested features only and without the timestamp column, entity keys serialized once per
batch, and the value types the live state uses converted directly (anything else through
Feast's type map). It refuses stores it does not reproduce (vector search, the
OpenAI-compatible `value_num` column): `usable` says so and the callers go through Feast.
`tests/test_realtime_store.py` checks reads and writes against Feast's own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from feast import FeatureStore, FeatureView
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import compute_table_id, extract_text_and_num
from feast.infra.online_stores.sqlite import SqliteOnlineStore
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import DoubleList, StringList
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.type_map import feast_value_type_to_python_type, python_values_to_proto_values
from feast.types import Array, Float64, String

# SQLite's limit on one statement's parameters is 32,766 (3.32+); stay well below it.
MAX_KEYS_PER_SELECT = 4_000


def usable(store: FeatureStore) -> bool:
    """Whether this store's online store is SQLite in the plain layout `SqliteBulk` writes."""
    online = store._get_provider().online_store
    options = store.config.online_store
    return (
        isinstance(online, SqliteOnlineStore)
        and not getattr(options, "vector_enabled", False)
        and not getattr(options, "enable_openai_compatible_store", False)
    )


class SqliteBulk:
    """Bulk reads and writes of feature rows in an open store's SQLite online store."""

    def __init__(self, store: FeatureStore) -> None:
        """Wrap an open feature store whose online store is `usable`."""
        self._store = store
        self._config = store.config
        online = store._get_provider().online_store
        assert isinstance(online, SqliteOnlineStore), "check sqlite_bulk.usable first"
        self._online = online

    def keys(self, join_key: str, ids: Sequence[str]) -> list[bytes]:
        """The serialized entity keys of string-keyed entities, as Feast stores them."""
        version = self._config.entity_key_serialization_version
        return [
            serialize_entity_key(
                EntityKeyProto(join_keys=[join_key], entity_values=[ValueProto(string_val=i)]),
                entity_key_serialization_version=version,
            )
            for i in ids
        ]

    def read(
        self, views: Sequence[tuple[FeatureView, Sequence[str]]], keys: Sequence[bytes]
    ) -> dict[str, list[Any]]:
        """Python values of each view's features per key (None where a key has no such row).

        Every view is read in the same statement (one UNION ALL), so a state spread over three
        views costs one round trip.

        Args:
            views: (feature view, the feature names to read from it), for each view.
            keys: Serialized entity keys (`keys`).

        Returns:
            Feature name → values aligned with `keys`, as Feast's type map gives them.
        """
        conn = self._conn()
        position = {key: i for i, key in enumerate(keys)}
        out: dict[str, list[Any]] = {
            name: [None] * len(keys) for _, names in views for name in names
        }
        step = max(1, MAX_KEYS_PER_SELECT // max(1, len(views)))
        for first in range(0, len(keys), step):
            chunk = list(keys[first : first + step])
            marks = ",".join("?" * len(chunk))
            parts, parameters = [], []
            for view, names in views:
                wanted = ",".join("?" * len(names))
                parts.append(
                    f'SELECT entity_key, feature_name, value FROM "{self._table(view)}" '
                    f"WHERE entity_key IN ({marks}) AND feature_name IN ({wanted})"
                )
                parameters += [*chunk, *names]
            for key, name, value in conn.execute(" UNION ALL ".join(parts), parameters):
                proto = ValueProto()
                proto.ParseFromString(value)
                out[name][position[key]] = python_value(proto)
        return out

    def write(
        self,
        view: FeatureView,
        keys: Sequence[bytes],
        rows: Sequence[Mapping[str, Any]],
        timestamp: datetime,
    ) -> None:
        """Upsert every feature of `view` for each key, in one transaction.

        Args:
            view: The feature view (its table and feature types).
            keys: Serialized entity keys, one per row.
            rows: Each key's Python values, one per feature of the view.
            timestamp: Event and created time of every row (UTC).
        """
        naive = timestamp.astimezone(UTC).replace(tzinfo=None)
        values: list[tuple[Any, ...]] = []
        for feature in view.features:
            protos = proto_values([row[feature.name] for row in rows], feature.dtype)
            for key, proto in zip(keys, protos, strict=True):
                text, _ = extract_text_and_num(proto, False)
                values.append((key, feature.name, proto.SerializeToString(), text, naive, naive))
        conn = self._conn()
        with conn:
            conn.executemany(
                f'INSERT INTO "{self._table(view)}" '
                "(entity_key, feature_name, value, value_text, event_ts, created_ts) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(entity_key, feature_name) DO UPDATE SET "
                "value = excluded.value, value_text = excluded.value_text, "
                "event_ts = excluded.event_ts, created_ts = excluded.created_ts",
                values,
            )

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection = self._online._get_conn(self._config)  # Feast's own
        return conn

    def _table(self, view: FeatureView) -> str:
        versioning = self._config.registry.enable_online_feature_view_versioning
        return compute_table_id(self._config.project, view, versioning)


def python_value(proto: ValueProto) -> Any:
    """A stored value as Python, as `feast_value_type_to_python_type` gives it.

    The kinds the live state stores are read directly (Feast's generic converter was a tenth of
    a batch's reading); anything else goes through it.
    """
    kind = proto.WhichOneof("val")
    if kind == "string_val":
        return proto.string_val
    if kind == "double_val":
        return proto.double_val
    if kind == "string_list_val":
        return list(proto.string_list_val.val)
    if kind == "double_list_val":
        return list(proto.double_list_val.val)
    return feast_value_type_to_python_type(proto)


def proto_values(values: Sequence[Any], dtype: Any) -> list[ValueProto]:
    """Python values of one feature as protos, as `python_values_to_proto_values` makes them.

    Strings, doubles and lists of either (the live state's types) are built directly; other
    types, and a None, go through Feast's type map.
    """
    if any(v is None for v in values):
        return python_values_to_proto_values(list(values), dtype.to_value_type())
    if dtype == String:
        return [ValueProto(string_val=v) for v in values]
    if dtype == Float64:
        return [ValueProto(double_val=float(v)) for v in values]
    if dtype == Array(String):
        return [ValueProto(string_list_val=StringList(val=v)) for v in values]
    if dtype == Array(Float64):
        return [ValueProto(double_list_val=DoubleList(val=[float(x) for x in v])) for v in values]
    return python_values_to_proto_values(list(values), dtype.to_value_type())
