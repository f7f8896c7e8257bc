"""New games: registration shared by every worker, exposure counts, and the graduation rule.

A game registered through `slots` is written to a small SQLite file under the data directory
(`serving/new_games.sqlite`), not only into the memory of the worker that took the call. Every
worker polls that file (`serving_poll_seconds`, 1 s by default), embeds what it has not seen yet
with the bundle's metadata model and adds it to its live FAISS index, so a new game is live in
all workers within about a second, without a restart. A changed game (same `slot_id`) updates
the catalogue facts (active, jurisdictions, …); a slot the model already knows keeps its
learned vector.

The graduation rule (`slotrec.core.policies.graduation`, documented in the README) is evaluated
on every poll from the exposure counts shared by all workers through the same file; a graduated
game is ranked like any slot (candidates from FAISS, scored from its nearest known slots' NeuMF
scores). The model learning the game (a retrain that indexed it) ends its new-game status.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from bentos.shared_sqlite import SharedSqlite

_SCHEMA = """
create table if not exists registrations (
    slot_id text primary key, seq integer not null, payload text not null,
    registered_at text not null);
create table if not exists exposure (
    slot_id text primary key, impressions integer not null default 0,
    plays integer not null default 0);
create table if not exists control (key text primary key, value integer not null);
"""


@dataclass(frozen=True)
class Registration:
    seq: int
    slot_id: str
    payload: dict[str, Any]


class NewGameRegistry:
    """The shared registration file; safe to use from several threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = SharedSqlite(path, _SCHEMA)

    def _con(self) -> sqlite3.Connection:
        return self._db.connection()

    def register(self, payload: dict[str, Any]) -> Literal["new", "updated"]:
        """Write (or overwrite) a game's registration; later polls pick it up."""
        con = self._con()
        slot_id = str(payload["slot_id"])
        with _transaction(con):
            existed = con.execute(
                "select 1 from registrations where slot_id = ?", [slot_id]
            ).fetchone()
            seq = con.execute("select coalesce(max(seq), 0) + 1 from registrations").fetchone()[0]
            con.execute(
                "insert or replace into registrations values (?, ?, ?, ?)",
                [slot_id, seq, json.dumps(payload), datetime.now(UTC).isoformat()],
            )
        return "updated" if existed else "new"

    def since(self, seq: int) -> list[Registration]:
        """Registrations written after `seq`, oldest first."""
        rows = self._con().execute(
            "select seq, slot_id, payload from registrations where seq > ? order by seq", [seq]
        )
        return [Registration(s, slot, json.loads(p)) for s, slot, p in rows]

    def count_impressions(self, slot_ids: Iterable[str]) -> None:
        self._bump("impressions", slot_ids)

    def count_plays(self, slot_ids: Iterable[str]) -> None:
        self._bump("plays", slot_ids)

    def _bump(self, column: str, slot_ids: Iterable[str]) -> None:
        ids = list(slot_ids)
        if not ids:
            return
        con = self._con()
        with _transaction(con):
            con.executemany(
                f"insert into exposure (slot_id, {column}) values (?, 1) "
                f"on conflict(slot_id) do update set {column} = {column} + 1",
                [[s] for s in ids],
            )

    def exposure(self) -> dict[str, tuple[int, int]]:
        """slot_id → (impressions, plays) of every registered game."""
        rows = self._con().execute(
            "select r.slot_id, coalesce(e.impressions, 0), coalesce(e.plays, 0) "
            "from registrations as r left join exposure as e using (slot_id)"
        )
        return {slot_id: (int(i), int(p)) for slot_id, i, p in rows}

    def reload_generation(self) -> int:
        row = self._con().execute("select value from control where key = 'reload'").fetchone()
        return int(row[0]) if row else 0

    def request_reload(self) -> int:
        """Ask every worker to adopt the promoted bundle; returns the new generation."""
        con = self._con()
        with _transaction(con):
            con.execute(
                "insert into control values ('reload', 1) "
                "on conflict(key) do update set value = value + 1"
            )
        return self.reload_generation()


class _transaction:
    """`begin immediate` … `commit` (or rollback), for an autocommit connection."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con

    def __enter__(self) -> None:
        self.con.execute("begin immediate")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.con.execute("rollback" if exc_type else "commit")
