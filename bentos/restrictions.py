"""Responsible play: the players who get no slot recommendations at all.

Self-excluded and cooling-off players are kept in a small SQLite file under the data directory
(`serving/restrictions.sqlite`, WAL), shared by every worker and every replica on the host. The
service reads it on every request (one primary-key read, a few microseconds), so a change is
in force for every worker on the very next request, with no polling delay and no restart.

Two sources write it, and each manages only its own rows:

- `file`: the operator's list (`raw/restrictions/restrictions.csv` or `.parquet`, columns
  `user_id, kind, until_at`, optional `reason`), loaded by `slotrec restrictions load`. A load
  replaces every `file` row with the file's rows in one transaction: a player taken off the list
  is no longer restricted by it. A file with one bad row is refused whole (`RestrictionFileError`
  names every bad row) and nothing is applied.
- `admin`: the service's `restrictions` endpoint (admin token), one player at a time.

A player is restricted while any of their rows is in force, so lifting an `admin` restriction
never lifts the operator file's one for the same player. `self_exclusion` may have an end
(`until_at`) or none (until lifted); `cooling_off` must have one and ends by itself: a row whose
`until_at` has passed is kept (as history) but no longer restricts. Every row ever set is also
logged in `restriction_history` with when it started and ended (lifted or replaced), because
lifting deletes the row: the responsible-play evidence needs who was restricted when.
"""

from __future__ import annotations

import csv
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from bentos.realtime.events import ID_PATTERN
from bentos.shared_sqlite import SharedSqlite

Kind = Literal["self_exclusion", "cooling_off"]
Source = Literal["file", "admin"]
KINDS: tuple[str, ...] = get_args(Kind)
FILE_COLUMNS = ("user_id", "kind", "until_at")  # plus an optional `reason`
MAX_REASON_CHARS = 500
MAX_REPORTED_ERRORS = 20  # a file with thousands of bad rows: the first ones say enough

_ID = re.compile(ID_PATTERN)

# One row per player and source; WITHOUT ROWID makes the primary key the table's own order, so
# the per-request lookup is a single b-tree descent.
_SCHEMA = """
create table if not exists restrictions (
    user_id text not null, source text not null, kind text not null, until_at real,
    reason text, updated_at real not null,
    primary key (user_id, source)) without rowid;
create table if not exists restriction_history (
    user_id text not null, source text not null, kind text not null, until_at real,
    started_at real not null, ended_at real);
create index if not exists restriction_history_user on restriction_history (user_id);
"""
# `restriction_history` keeps every row the registry ever held, with when it was set
# (`started_at`) and when it was replaced or lifted (`ended_at`, null while current): removals
# delete from `restrictions`, and the responsible-play evidence (monitoring/responsible_play.py)
# must still know who was restricted at a past moment. Written in the same transactions.


@dataclass(frozen=True)
class Restriction:
    """One player's restriction from one source.

    Attributes:
        user_id: The player's external id.
        kind: `self_exclusion` or `cooling_off`.
        until_at: When it ends (UTC); None: until lifted (self-exclusion only).
        source: `file` (the operator's list) or `admin` (the endpoint).
        reason: Free text for the operator's records, if any.
        updated_at: When this row was last written (UTC).
    """

    user_id: str
    kind: Kind
    until_at: datetime | None
    source: Source
    reason: str | None = None
    updated_at: datetime | None = None

    def in_force(self, now: datetime) -> bool:
        """Whether it still restricts at `now` (an expired cooling-off does not)."""
        return self.until_at is None or self.until_at > now


class RestrictionRegistry:
    """The shared restriction file; safe to use from several threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = SharedSqlite(path, _SCHEMA)

    def _con(self) -> sqlite3.Connection:
        return self._db.connection()

    def active(self, user_id: str, now: datetime | None = None) -> Restriction | None:
        """The restriction in force for a player now, or None (the per-request check).

        When several sources restrict the player, the one that lasts longest is returned.
        """
        moment = now or datetime.now(UTC)
        row = (
            self._con()
            .execute(
                "select user_id, kind, until_at, source, reason, updated_at from restrictions "
                "where user_id = ? and (until_at is null or until_at > ?) "
                "order by until_at is not null, until_at desc limit 1",
                [user_id, moment.timestamp()],
            )
            .fetchone()
        )
        return _restriction(row) if row else None

    def of(self, user_id: str) -> list[Restriction]:
        """Every row of a player, in force or not (for the admin endpoint's answer)."""
        rows = self._con().execute(
            "select user_id, kind, until_at, source, reason, updated_at from restrictions "
            "where user_id = ? order by source",
            [user_id],
        )
        return [_restriction(r) for r in rows]

    def set(
        self,
        user_id: str,
        kind: Kind,
        until_at: datetime | None,
        source: Source = "admin",
        reason: str | None = None,
    ) -> None:
        """Add or replace one player's restriction from one source."""
        row = Restriction(user_id, kind, _utc(until_at), source, reason)
        _check(row)
        with _transaction(self._con()) as con:
            _upsert(con, [row], datetime.now(UTC))

    def remove(self, user_id: str, source: Source = "admin") -> bool:
        """Lift one source's restriction of a player; False when there was none."""
        with _transaction(self._con()) as con:
            cursor = con.execute(
                "delete from restrictions where user_id = ? and source = ?", [user_id, source]
            )
            _close_history(con, [user_id], source, datetime.now(UTC))
        return cursor.rowcount > 0

    def replace_source(self, source: Source, rows: list[Restriction]) -> dict[str, int]:
        """Make `source`'s rows exactly `rows`, in one transaction (all or nothing).

        Returns:
            Counts: `loaded` (rows written), `lifted` (players the source no longer restricts),
            `in_force` (loaded rows that restrict now).
        """
        for row in rows:
            _check(row)
            if row.source != source:
                raise ValueError(f"row for {row.user_id!r} is from {row.source!r}, not {source!r}")
        now = datetime.now(UTC)
        with _transaction(self._con()) as con:
            before = {
                r[0]
                for r in con.execute("select user_id from restrictions where source = ?", [source])
            }
            con.execute("delete from restrictions where source = ?", [source])
            _close_history(con, sorted(before), source, now)
            _upsert(con, rows, now)
        kept = {r.user_id for r in rows}
        return {
            "loaded": len(rows),
            "lifted": len(before - kept),
            "in_force": sum(r.in_force(now) for r in rows),
        }


class RestrictionFileError(ValueError):
    """The operator's restriction file has bad rows; the message names each of them."""


def read_restriction_file(path: Path) -> list[Restriction]:
    """Read and check the operator's list (CSV or parquet) as `file` restrictions.

    Every row is checked before anything is returned, so a caller applies all rows or none.

    Raises:
        RestrictionFileError: the file cannot be read, lacks a column, or has bad rows (unknown
            kind, bad user id, bad or missing `until_at`, the same player twice); the message
            names each bad row (CSV: its line number; parquet: its 1-based row number).
    """
    if not path.is_file():
        raise RestrictionFileError(f"{path}: no such file")
    if path.suffix.lower() == ".parquet":
        records, first_row, label = _parquet_records(path), 1, "row"
    elif path.suffix.lower() == ".csv":
        records, first_row, label = _csv_records(path), 2, "line"  # line 1 is the header
    else:
        raise RestrictionFileError(f"{path}: expected a .csv or .parquet file")
    errors: list[str] = []
    rows: list[Restriction] = []
    seen: dict[str, int] = {}
    for number, record in enumerate(records, start=first_row):
        try:
            row = _file_row(record)
        except ValueError as exc:
            errors.append(f"{label} {number}: {exc}")
            continue
        if row.user_id in seen:
            errors.append(
                f"{label} {number}: user_id {row.user_id!r} already listed on "
                f"{label} {seen[row.user_id]}"
            )
            continue
        seen[row.user_id] = number
        rows.append(row)
    if errors:
        shown = errors[:MAX_REPORTED_ERRORS]
        more = len(errors) - len(shown)
        tail = f"\n  … and {more} more" if more else ""
        raise RestrictionFileError(
            f"{path}: {len(errors)} bad row(s), nothing loaded:\n  " + "\n  ".join(shown) + tail
        )
    return rows


def _csv_records(path: Path) -> list[dict[str, Any]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            _require_columns(path, reader.fieldnames or [])
            return list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise RestrictionFileError(f"{path}: not a readable UTF-8 CSV file: {exc}") from exc


def _parquet_records(path: Path) -> list[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise RestrictionFileError(f"{path}: not a readable parquet file: {exc}") from exc
    _require_columns(path, table.column_names)
    return table.to_pylist()


def _require_columns(path: Path, columns: Sequence[str]) -> None:
    missing = [c for c in FILE_COLUMNS if c not in columns]
    if missing:
        raise RestrictionFileError(
            f"{path}: missing column(s) {', '.join(missing)} "
            f"(expected {', '.join(FILE_COLUMNS)}[, reason])"
        )


def _file_row(record: dict[str, Any]) -> Restriction:
    user_id = record.get("user_id")
    user_id = user_id.strip() if isinstance(user_id, str) else user_id
    kind = record.get("kind")
    kind = kind.strip() if isinstance(kind, str) else kind
    reason = record.get("reason")
    reason = reason.strip() or None if isinstance(reason, str) else None
    row = Restriction(
        user_id=user_id,  # type: ignore[arg-type]  # checked by _check below
        kind=kind,  # type: ignore[arg-type]
        until_at=parse_until(record.get("until_at")),
        source="file",
        reason=reason,
    )
    _check(row)
    return row


def parse_until(value: object) -> datetime | None:
    """`until_at` from a file cell: empty → None, ISO 8601 text or a timestamp → UTC datetime.

    A time without a zone is read as UTC, like the event timestamps.

    Raises:
        ValueError: the value is not a timestamp.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, str):
        try:
            return _utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
        except ValueError:
            raise ValueError(
                f"until_at {value!r} is not an ISO 8601 timestamp (e.g. 2026-12-31T00:00:00Z)"
            ) from None
    raise ValueError(f"until_at {value!r} is not a timestamp")


def _check(row: Restriction) -> None:
    """The rules every row obeys, whichever way it arrives."""
    if not isinstance(row.user_id, str) or not _ID.match(row.user_id):
        raise ValueError(
            f"user_id {row.user_id!r} is not a valid id (1-128 letters, digits or _.:-, "
            "starting with a letter or digit)"
        )
    if row.kind not in KINDS:
        raise ValueError(f"kind {row.kind!r} is not one of {', '.join(KINDS)}")
    if row.kind == "cooling_off" and row.until_at is None:
        raise ValueError("a cooling_off needs until_at (when it ends)")
    if row.reason is not None and len(row.reason) > MAX_REASON_CHARS:
        raise ValueError(f"reason is longer than {MAX_REASON_CHARS} characters")


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _close_history(
    con: sqlite3.Connection, user_ids: Sequence[str], source: str, now: datetime
) -> None:
    """End the open history rows of these players from `source` at `now`."""
    con.executemany(
        "update restriction_history set ended_at = ? "
        "where user_id = ? and source = ? and ended_at is null",
        [[now.timestamp(), u, source] for u in user_ids],
    )


def history_rows(path: Path) -> list[tuple[Any, ...]]:
    """Every restriction the registry at `path` held, read-only, for the evidence report.

    Rows `(user_id, source, kind, until_at, started_at, ended_at)` in epoch seconds (`until_at`
    / `ended_at` None: open). Rows set before the history table existed have no history row;
    they are taken from `restrictions` with `updated_at` as their start. No file: no rows.
    """
    if not path.exists():
        return []
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
        history: list[tuple[Any, ...]] = []
        if "restriction_history" in tables:
            history = con.execute(
                "select user_id, source, kind, until_at, started_at, ended_at "
                "from restriction_history"
            ).fetchall()
        current: list[tuple[Any, ...]] = []
        if "restrictions" in tables:
            current = con.execute(
                "select user_id, source, kind, until_at, updated_at, null from restrictions"
            ).fetchall()
    finally:
        con.close()
    open_rows = {(r[0], r[1]) for r in history if r[5] is None}
    return history + [r for r in current if (r[0], r[1]) not in open_rows]


def _upsert(con: sqlite3.Connection, rows: list[Restriction], now: datetime) -> None:
    # a replaced row's history ends where the new one starts
    for source in {r.source for r in rows}:
        _close_history(con, [r.user_id for r in rows if r.source == source], source, now)
    con.executemany(
        "insert into restriction_history values (?, ?, ?, ?, ?, null)",
        [
            [
                r.user_id,
                r.source,
                r.kind,
                r.until_at.timestamp() if r.until_at else None,
                now.timestamp(),
            ]
            for r in rows
        ],
    )
    con.executemany(
        "insert or replace into restrictions values (?, ?, ?, ?, ?, ?)",
        [
            [
                r.user_id,
                r.source,
                r.kind,
                r.until_at.timestamp() if r.until_at else None,
                r.reason,
                now.timestamp(),
            ]
            for r in rows
        ],
    )


def _moment(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _restriction(row: tuple[Any, ...]) -> Restriction:
    user_id, kind, until_at, source, reason, updated_at = row
    return Restriction(user_id, kind, _moment(until_at), source, reason, _moment(updated_at))


class _transaction:
    """`begin immediate` … `commit` (or rollback), for an autocommit connection."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con

    def __enter__(self) -> sqlite3.Connection:
        self.con.execute("begin immediate")
        return self.con

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.con.execute("rollback" if exc_type else "commit")
