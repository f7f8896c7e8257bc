"""Served events appended to the raw event files, so tomorrow's dbt run learns from them.

Events wait in memory for at most `raw_sink_flush_seconds`, then one flush writes all of them as
one parquet part file of the raw contract into the folder of the day the flush happens
(`raw/events/day=YYYY-MM-DD/`): that is the day they are delivered to the pipeline, exactly as an
operator's export job would deliver them. An event that happened before midnight and is flushed
after it is a late event of the next delivery day, which the dbt staging rules accept.

Every file is written under a hidden `.tmp` name and renamed into place, so neither dbt (which
reads `day=*/*.parquet`) nor `slotrec.ingest` ever sees half a file. Names carry the time, the
process id and a random part, so two service workers never write the same file. Duplicates
(an event the lobby sent twice) are written as they came: the dbt staging dedupe on `event_id`
quarantines the copies with reason `duplicate_event`, and nothing vanishes silently.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from slotrec.core import schema
from slotrec.core.settings import DataLayout

log = logging.getLogger(__name__)

# A flush is forced once this many events wait, whatever the interval.
MAX_BUFFERED_EVENTS = 10_000
SERVED_FILE_PREFIX = "served-"


class RawEventSink:
    """A thread-safe buffer of raw event rows, flushed to part files by a background thread."""

    def __init__(
        self,
        layout: DataLayout,
        flush_seconds: float,
        clock: Callable[[], datetime],
    ) -> None:
        """Create the sink; nothing is written and no thread runs until the first event.

        Args:
            layout: Where the raw event folders are.
            flush_seconds: The longest an event waits in memory.
            clock: The current UTC time (picks the delivery day of a flush).
        """
        self._layout = layout
        self._flush_seconds = flush_seconds
        self._clock = clock
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()  # guards _rows
        self._write_lock = threading.Lock()  # one flush at a time, in order
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.files_written = 0

    def add(self, rows: list[dict[str, Any]]) -> None:
        """Queue raw-contract rows for the next flush."""
        with self._lock:
            self._rows.extend(rows)
            pending = len(self._rows)
            if self._thread is None and not self._stopped.is_set():
                self._start()
        if pending >= MAX_BUFFERED_EVENTS:
            self._wake.set()

    @property
    def pending(self) -> int:
        """How many events wait for a flush."""
        with self._lock:
            return len(self._rows)

    def flush(self) -> Path | None:
        """Write every waiting event to one new part file now.

        Returns:
            The file written, or None when nothing was waiting.

        Raises:
            OSError: the file could not be written; the events stay queued for the next flush.
        """
        with self._write_lock:
            with self._lock:
                rows, self._rows = self._rows, []
            if not rows:
                return None
            try:
                return self._write(rows)
            except Exception:
                with self._lock:
                    self._rows[:0] = rows  # back in front, original order kept
                raise

    def close(self) -> None:
        """Stop the background thread and flush what is left."""
        self._stopped.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        self.flush()

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="raw-event-sink", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self._flush_seconds)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # keep the thread alive: the rows are queued again
                log.exception("appending served events to the raw files failed; will retry")

    def _write(self, rows: list[dict[str, Any]]) -> Path:
        now = self._clock()
        folder = self._layout.raw_events_day_dir(now.date())
        folder.mkdir(parents=True, exist_ok=True)
        name = (
            f"{SERVED_FILE_PREFIX}{now.strftime('%H%M%S%f')}-{os.getpid()}-"
            f"{uuid.uuid4().hex[:8]}.parquet"
        )
        path = folder / name
        tmp = folder / f".{name}.tmp"
        table = pa.Table.from_pylist(rows, schema=schema.RAW_EVENT_SCHEMA)
        pq.write_table(table, tmp, compression="zstd")
        # The rename must not reach the disk before the data it names.
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        self.files_written += 1
        return path
