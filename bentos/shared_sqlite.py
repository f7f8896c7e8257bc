"""A small SQLite file that every service worker and replica on a host shares.

The new-game registry and the restriction registry both keep their state in such a file: WAL
mode so readers never wait for the writer, autocommit so each statement is durable on its own
(callers open explicit transactions where several must land together), and one connection per
thread, because a sqlite3 connection must not be shared between the service's worker threads.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


class SharedSqlite:
    """Per-thread connections to one SQLite file, its schema created on first use."""

    def __init__(self, path: Path, schema: str) -> None:
        """Remember the file and its schema (`create table if not exists ...` statements)."""
        self.path = path
        self.schema = schema
        self._local = threading.local()

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened, in WAL mode, with the schema, on first use)."""
        con = getattr(self._local, "con", None)
        if con is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            con.execute("pragma journal_mode=wal")
            # a crash can lose the last commits, never corrupt the file; fsync per commit
            # would cost more than the request that writes
            con.execute("pragma synchronous=normal")
            con.executescript(self.schema)
            self._local.con = con
        return con
