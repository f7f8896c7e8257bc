"""Check the raw files of the days a run will read, before anything is written.

Row-level dirt (nulls, duplicates, unknown ids, …) is dbt's job: it quarantines each bad row with
a reason. What dbt cannot do is read a file that is not a file of the contract at all — a
truncated parquet, a file without the columns the contract names. Such a file stops the run here,
with an error naming the file, before the warehouse or the online store is touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from slotrec.core import schema
from slotrec.core.settings import DataLayout

RAW_EVENT_SUFFIXES = (".parquet",)


class RawDataError(Exception):
    """A raw input that cannot be read under the contract; the message names the file."""


@dataclass
class DayFiles:
    """The raw event files delivered on one day and their row counts (from file metadata)."""

    day: date
    files: list[Path] = field(default_factory=list)
    rows: int = 0
    # one line per file column whose type is not the contract's (read, but values may be lost)
    warnings: list[str] = field(default_factory=list)


def days_between(start: date, end: date) -> list[date]:
    """Every day from `start` to `end`, both included."""
    if end < start:
        raise ValueError(f"from date {start} is after as-of date {end}")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def check_parquet_file(path: Path, required: tuple[str, ...]) -> int:
    """Open a parquet file's footer, check the required columns, and return its row count.

    Raises:
        RawDataError: the file is unreadable (truncated, not parquet) or lacks a column.
    """
    try:
        meta = pq.read_metadata(path)
        names = set(pq.read_schema(path).names)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise RawDataError(f"cannot read raw file {path}: {exc}") from exc
    missing = [c for c in required if c not in names]
    if missing:
        raise RawDataError(
            f"raw file {path} lacks required column(s) {', '.join(missing)} "
            f"(the contract needs: {', '.join(required)})"
        )
    return int(meta.num_rows)


def _duckdb_type(arrow_type: pa.DataType) -> str:
    """The DuckDB type a contract column is cast to (zoned: offsets in strings are honoured)."""
    if pa.types.is_timestamp(arrow_type):
        return "timestamptz"
    if pa.types.is_floating(arrow_type):
        return "double"
    return "varchar"


def check_column_types(path: Path, contract: pa.Schema) -> list[str]:
    """Compare a raw file's column types with the contract; one warning per differing column.

    A primitive column of another type (numbers or timestamps written as strings, integers for
    doubles) is still read: dbt casts each value, and a value that does not cast becomes null —
    the row is quarantined as `null_required_field` when the column is required, and for an
    optional one (bet_amount, win_amount, request_id) the value is lost. The warning says how
    many values of the file do not cast, so nothing disappears uncounted.

    Raises:
        RawDataError: a column holds nested values (lists, structs, maps), which cannot be cast.
    """
    found = pq.read_schema(path)
    differing = []
    for expected in contract:
        if expected.name not in found.names:
            continue
        actual = found.field(expected.name).type
        if pa.types.is_nested(actual) or pa.types.is_dictionary(actual):
            raise RawDataError(
                f"raw file {path}: column {expected.name} has type {actual}, which cannot be "
                f"read as the contract's {expected.type}"
            )
        if pa.types.is_timestamp(expected.type) and not (
            pa.types.is_timestamp(actual) or pa.types.is_date(actual) or pa.types.is_string(actual)
        ):
            raise RawDataError(
                f"raw file {path}: column {expected.name} has type {actual}; the contract needs "
                f"a timestamp (or an ISO-8601 string)"
            )
        same_kind = (
            pa.types.is_timestamp(actual) and pa.types.is_timestamp(expected.type)
        ) or actual == expected.type
        if not same_kind:
            differing.append((expected.name, actual, expected.type))
    if not differing:
        return []
    counts = ", ".join(
        f"count(*) filter (where {name} is not null and "
        f"try_cast({name} as {_duckdb_type(wanted)}) is null)"
        for name, _, wanted in differing
    )
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        row = con.execute(f"select {counts} from read_parquet(?)", [str(path)]).fetchone()
    lost = list(row) if row else [0] * len(differing)
    return [
        f"raw file {path}: column {name} is {actual}, the contract says {wanted}; "
        f"{int(bad):,} value(s) do not parse and are read as null"
        for (name, actual, wanted), bad in zip(differing, lost, strict=True)
    ]


def check_event_days(layout: DataLayout, days: list[date]) -> list[DayFiles]:
    """Check every raw event file of the given delivery days.

    A day with no folder or no files is allowed (a quiet day, or a feed that failed upstream);
    it is reported with zero rows so the run report can warn about it.

    A file whose columns have other types than the contract's is read, with a warning per
    column (see `check_column_types`).

    Raises:
        RawDataError: naming the first file that cannot be read or lacks a contract column, or a
            file of an unsupported format.
    """
    checked: list[DayFiles] = []
    for day in days:
        day_dir = layout.raw_events_day_dir(day)
        found = DayFiles(day=day)
        if day_dir.is_dir():
            for path in sorted(p for p in day_dir.iterdir() if p.is_file()):
                if path.name.startswith(".") or path.suffix == ".tmp":
                    continue  # hidden files and half-written files are not deliveries
                if path.suffix not in RAW_EVENT_SUFFIXES:
                    raise RawDataError(
                        f"raw file {path} has an unsupported format "
                        f"(expected one of {', '.join(RAW_EVENT_SUFFIXES)})"
                    )
                found.rows += check_parquet_file(path, schema.REQUIRED_EVENT_COLUMNS)
                found.warnings.extend(check_column_types(path, schema.RAW_EVENT_SCHEMA))
                found.files.append(path)
        checked.append(found)
    return checked


def check_reference_files(layout: DataLayout) -> None:
    """Check the slot catalogue and player registry exist and carry their contract columns."""
    for path, contract in (
        (layout.slot_catalogue_path, schema.SLOT_CATALOGUE_SCHEMA),
        (layout.players_path, schema.PLAYER_SCHEMA),
        (layout.onboarding_path, schema.ONBOARDING_SCHEMA),
    ):
        if not path.is_file():
            columns = ", ".join(contract.names)
            raise RawDataError(f"missing raw file {path} (expected columns: {columns})")
        check_parquet_file(path, tuple(contract.names))
