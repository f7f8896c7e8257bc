"""The service's notion of "now": the wall clock, or a simulated clock for the closed-loop demo.

Everything the service stamps or files by time (served impressions' `occurred_at`, the delivery
day folder of the raw-file sink, the live state's pruning) asks one clock. In production that is
the UTC wall clock. The closed-loop demo (`slotrec demo --closed-loop`) replays simulated days
against a real `bentoml serve` process in a few minutes, so it points the service at a clock file
with `SLOTREC_CLOCK_FILE`: the file holds an offset in seconds that the demo moves forward day by
day, and the service adds it to the wall clock. The file is re-read only when it changes (one
`stat` a call), so moving simulated time needs no restart and no endpoint.

Unset (the default), the service runs on the wall clock and this module costs nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from slotrec.core.atomic import write_json_atomic

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    """The current UTC time."""
    return datetime.now(UTC)


class FileClock:
    """Wall clock plus the offset a clock file holds (re-read when the file changes).

    A missing or unreadable file means offset 0 (the wall clock): a broken demo clock must not
    stop a service from answering.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._offset = timedelta(0)

    def __call__(self) -> datetime:
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp != self._stamp:
                offset = float(json.loads(self.path.read_text())["offset_seconds"])
                self._offset = timedelta(seconds=offset)
                self._stamp = stamp
        except (OSError, ValueError, KeyError, TypeError):
            self._offset, self._stamp = timedelta(0), None
        return datetime.now(UTC) + self._offset


def service_clock(clock_file: Path | None) -> Clock:
    """The clock the service uses: a `FileClock` on `clock_file` (`Settings.clock_file`,
    `SLOTREC_CLOCK_FILE`) when one is set, else UTC."""
    return FileClock(clock_file) if clock_file else wall_clock


def set_simulated_now(path: Path, now: datetime) -> None:
    """Make every `FileClock` on `path` read `now` at this instant (then run on in real time).

    Args:
        path: The clock file (`SLOTREC_CLOCK_FILE` of the service).
        now: The simulated time, timezone-aware.
    """
    if now.tzinfo is None:
        raise ValueError("the simulated time must be timezone-aware (UTC)")
    offset = (now - datetime.now(UTC)).total_seconds()
    write_json_atomic(path, {"offset_seconds": offset, "simulated_at_set": now.isoformat()})
