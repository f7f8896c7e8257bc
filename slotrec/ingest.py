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

import pyarrow.parquet as pq

from slotrec import schema
from slotrec.settings import DataLayout

RAW_EVENT_SUFFIXES = (".parquet",)


class RawDataError(Exception):
    """A raw input that cannot be read under the contract; the message names the file."""


@dataclass
class DayFiles:
    """The raw event files delivered on one day and their row counts (from file metadata)."""

    day: date
    files: list[Path] = field(default_factory=list)
    rows: int = 0


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


def check_event_days(layout: DataLayout, days: list[date]) -> list[DayFiles]:
    """Check every raw event file of the given delivery days.

    A day with no folder or no files is allowed (a quiet day, or a feed that failed upstream);
    it is reported with zero rows so the run report can warn about it.

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
