"""The raw-file check that runs before anything is written."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from slotrec import ingest
from slotrec.core import schema
from slotrec.core.settings import DataLayout

DAY = date(2026, 1, 1)


def _events(n: int) -> pa.Table:
    return pa.table(
        {
            name: pa.array([None] * n, type=field.type)
            for name, field in zip(
                schema.RAW_EVENT_SCHEMA.names, schema.RAW_EVENT_SCHEMA, strict=True
            )
        }
    )


def test_counts_rows_of_every_file_of_every_day(tmp_path):
    layout = DataLayout(tmp_path)
    day_dir = layout.raw_events_day_dir(DAY)
    day_dir.mkdir(parents=True)
    pq.write_table(_events(3), day_dir / "part-00000.parquet")
    pq.write_table(_events(4), day_dir / "part-00001.parquet")
    (day_dir / ".part-00002.parquet.tmp").write_bytes(b"half written")
    checked = ingest.check_event_days(layout, [DAY, date(2026, 1, 2)])
    assert [(d.day, len(d.files), d.rows) for d in checked] == [
        (DAY, 2, 7),
        (date(2026, 1, 2), 0, 0),
    ]


def test_truncated_parquet_stops_with_the_file_named(tmp_path):
    layout = DataLayout(tmp_path)
    day_dir = layout.raw_events_day_dir(DAY)
    day_dir.mkdir(parents=True)
    good = day_dir / "part-00000.parquet"
    pq.write_table(_events(50), good)
    broken = day_dir / "part-00001.parquet"
    broken.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ingest.RawDataError, match=r"part-00001\.parquet"):
        ingest.check_event_days(layout, [DAY])


def test_missing_contract_column_is_named(tmp_path):
    layout = DataLayout(tmp_path)
    day_dir = layout.raw_events_day_dir(DAY)
    day_dir.mkdir(parents=True)
    pq.write_table(_events(2).drop(["occurred_at"]), day_dir / "part-00000.parquet")
    with pytest.raises(ingest.RawDataError, match=r"lacks required column.*occurred_at"):
        ingest.check_event_days(layout, [DAY])


def test_request_id_is_optional(tmp_path):
    layout = DataLayout(tmp_path)
    day_dir = layout.raw_events_day_dir(DAY)
    day_dir.mkdir(parents=True)
    pq.write_table(_events(2).drop(["request_id"]), day_dir / "part-00000.parquet")
    assert ingest.check_event_days(layout, [DAY])[0].rows == 2


def test_unsupported_format_is_refused(tmp_path):
    layout = DataLayout(tmp_path)
    day_dir = layout.raw_events_day_dir(DAY)
    day_dir.mkdir(parents=True)
    (day_dir / "events.csv").write_text("event_id\n1\n")
    with pytest.raises(ingest.RawDataError, match=r"events\.csv has an unsupported format"):
        ingest.check_event_days(layout, [DAY])


def test_days_between_refuses_a_reversed_range():
    assert ingest.days_between(DAY, date(2026, 1, 3)) == [
        DAY,
        date(2026, 1, 2),
        date(2026, 1, 3),
    ]
    with pytest.raises(ValueError, match="after"):
        ingest.days_between(date(2026, 1, 3), DAY)
