"""Feast objects resolved once per registry version, for the serving fast paths.

`push.OnlinePusher` and `read.OnlineReader` skip `FeatureStore`'s per-call lookups by keeping
what they resolved (feature views by name or by push source). What they keep must be dropped
when the registry changes (a `feast apply` by the daily run): Feast stamps the cached registry
proto with its load time (`cached_registry_proto_created`), and a new stamp empties this cache.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from feast import FeatureStore

T = TypeVar("T")


class RegistryVersionCache(Generic[T]):
    """name → resolved value, emptied whenever the store's registry is reloaded; thread-safe."""

    def __init__(self, store: FeatureStore) -> None:
        """Cache for one open store; nothing is resolved until the first `get`."""
        self._store = store
        self._lock = threading.Lock()
        self._version: object = None
        self._values: dict[str, T] = {}

    def get(self, name: str, resolve: Callable[[str], T]) -> T:
        """The cached value for `name`, or `resolve(name)` kept for this registry version.

        Errors raised by `resolve` pass through and nothing is cached.
        """
        version = getattr(self._store.registry, "cached_registry_proto_created", None)
        with self._lock:
            if version != self._version or version is None:
                self._values = {}
                self._version = version
            if name not in self._values:
                self._values[name] = resolve(name)
            return self._values[name]
