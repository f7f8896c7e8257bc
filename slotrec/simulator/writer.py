"""Turning simulated batches into files: exact schemas, string ids, atomic writes.

Every file is written to `<name>.tmp` and renamed into place, so a reader (or a crashed run)
never sees half a file, and a re-run replaces files whole.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from slotrec.core.schema import RAW_EVENT_SCHEMA
from slotrec.simulator.sessions import (
    EVENT_TYPE_NAMES,
    NULL_CODE,
    NULL_TIME,
    UNKNOWN_BASE,
    EventBatch,
)

_COMPRESSION: Final = "zstd"
EVENT_KEY_DIGITS: Final = 16  # day (3) + block (4) + kind (1) + counter (8)
SESSION_KEY_DIGITS: Final = 15  # day (3) + block (4) + counter (8)
UNKNOWN_ID_DIGITS: Final = 6


def events_to_table(batch: EventBatch, user_ids: pa.Array, slot_ids: pa.Array) -> pa.Table:
    """An EventBatch as a table with exactly `RAW_EVENT_SCHEMA`.

    Args:
        batch: The rows.
        user_ids: Every player's id by index (`players.user_ids`), looked up, not reformatted.
        slot_ids: Every slot's id by index (`catalogue.slot_ids`).

    Returns:
        The table. Event and session ids are formatted from their numeric keys
        ("e0010002000000123", "ses001000200000045"); codes the world never issued become
        "u_unknown_…" / "s_unknown_…".
    """
    n = len(batch)
    time_null = batch.occurred_us == NULL_TIME
    type_null = batch.event_type == NULL_CODE
    names = pa.array(EVENT_TYPE_NAMES, type=pa.string())
    columns = [
        fixed_width_ids("e", batch.event_key, EVENT_KEY_DIGITS, batch.event_key == NULL_CODE),
        _entity_ids("u", batch.user, user_ids),
        _entity_ids("s", batch.slot, slot_ids),
        fixed_width_ids(
            "ses", batch.session_key, SESSION_KEY_DIGITS, batch.session_key == NULL_CODE
        ),
        names.take(pa.array(batch.event_type.astype(np.int32), mask=type_null)),
        pa.array(np.where(time_null, 0, batch.occurred_us), mask=time_null).cast(
            pa.timestamp("us", tz="UTC")
        ),
        pa.array(batch.duration_seconds, type=pa.float64()),
        pa.array(batch.bet_amount, type=pa.float64()),
        pa.array(batch.win_amount, type=pa.float64()),
        pa.nulls(n, type=pa.string()),  # request_id: set by serving on what follows a list
        # experiment, variant, list_position, guardrails: set by serving on its impressions
        pa.nulls(n, type=pa.string()),
        pa.nulls(n, type=pa.string()),
        pa.nulls(n, type=pa.int64()),
        pa.nulls(n, type=pa.string()),
    ]
    return pa.Table.from_arrays(columns, schema=RAW_EVENT_SCHEMA)


def _entity_ids(prefix: str, codes: np.ndarray, known_ids: pa.Array) -> pa.Array:
    """Player or slot ids from indices; unknown codes get a "<prefix>_unknown_" id."""
    null = codes == NULL_CODE
    unknown = codes >= UNKNOWN_BASE
    index = pa.array(np.where(null | unknown, 0, codes), mask=null)
    known = known_ids.take(index)  # a null index gives a null id
    if not unknown.any():
        return known
    strange = fixed_width_ids(
        f"{prefix}_unknown_", codes - UNKNOWN_BASE, UNKNOWN_ID_DIGITS, null | ~unknown
    )
    return pc.if_else(pa.array(unknown), strange, known)


def fixed_width_ids(
    prefix: str, numbers: np.ndarray, digits: int, null: np.ndarray | None = None
) -> pa.Array:
    """Zero-padded ids `prefix + digits` as a string array (vectorised in Arrow).

    Args:
        prefix: Id prefix, e.g. "u".
        numbers: Non-negative integers [n] with at most `digits` digits.
        digits: Number of digits.
        null: Optional mask [n] of rows that are null instead.

    Returns:
        A `pa.string()` array of length n.
    """
    text = pc.cast(pa.array(numbers, type=pa.int64(), mask=null), pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(text, digits, "0"), "")


def _tmp_path(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def write_parquet_atomic(table: pa.Table, path: Path) -> None:
    """Write a parquet file via `<path>.tmp` and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(path)
    pq.write_table(table, tmp, compression=_COMPRESSION)
    os.replace(tmp, path)


def write_json_atomic(payload: dict[str, Any], path: Path) -> None:
    """Write pretty, key-sorted JSON via `<path>.tmp` and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(path)
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class AtomicParquetWriter:
    """Stream tables into one parquet file that appears only when the stream closes cleanly."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self._writer: pq.ParquetWriter | None = None

    def __enter__(self) -> AtomicParquetWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(_tmp_path(self.path), self.schema, compression=_COMPRESSION)
        return self

    def write(self, table: pa.Table) -> None:
        """Append a table with the writer's schema."""
        assert self._writer is not None, "use AtomicParquetWriter as a context manager"
        self._writer.write_table(table.cast(self.schema))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._writer is not None
        self._writer.close()
        if exc_type is None:
            os.replace(_tmp_path(self.path), self.path)
        else:  # leave the previous complete file, if any, untouched
            _tmp_path(self.path).unlink(missing_ok=True)
