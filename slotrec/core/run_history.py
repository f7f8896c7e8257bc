"""The run history: every daily run and every step it ran, in a small DuckDB ops database.

It lives at `<data>/ops/runs.duckdb`, apart from the dbt warehouse, which a run replaces
wholesale (atomic swap) and so could not keep a history. One row per run in `runs`, one row per
step attempt in `run_steps` (status, start/end, duration, row counts, metrics, bundle version,
error, and the fingerprint of the step's inputs). `--resume` reads it back: a step is skipped
when the same day's last attempt of it finished with the same input fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

_SCHEMA = """
create table if not exists runs (
    run_id varchar primary key,
    as_of date not null,
    from_date date not null,
    status varchar not null,
    started_at timestamptz not null,
    finished_at timestamptz,
    duration_seconds double,
    failed_step varchar,
    error varchar,
    report_path varchar
);
create table if not exists run_steps (
    run_id varchar not null,
    as_of date not null,
    from_date date not null,
    step varchar not null,
    status varchar not null,
    started_at timestamptz not null,
    finished_at timestamptz,
    duration_seconds double,
    input_fingerprint varchar,
    output_fingerprint varchar,
    row_counts json,
    metrics json,
    bundle_version varchar,
    error varchar
);
"""

STEP_OK = "ok"
STEP_FAILED = "failed"
STEP_SKIPPED = "skipped"


def new_run_id(as_of: date) -> str:
    """A run id that sorts by time and names its day: `2026-01-07T031502-1a2b3c`."""
    stamp = datetime.now(UTC).strftime("%H%M%S")
    return f"{as_of.isoformat()}T{stamp}-{uuid.uuid4().hex[:6]}"


def fingerprint(parts: Iterable[object]) -> str:
    """A short stable hash of the given parts (strings, numbers, dicts)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(json.dumps(part, sort_keys=True, default=str).encode())
        digest.update(b"\x00")
    return digest.hexdigest()[:16]


def file_state(paths: Iterable[Path]) -> list[tuple[str, int, int]]:
    """(path, size, mtime in ns) of each existing file: enough to notice a rewrite."""
    state = []
    for path in sorted(paths):
        if path.is_file():
            stat = path.stat()
            state.append((str(path), stat.st_size, stat.st_mtime_ns))
    return state


def content_state(folder: Path, pattern: str) -> list[tuple[str, str]]:
    """(relative path, content hash) of the files under `folder` matching `pattern`.

    For code and configuration (dbt models, Feast definitions): a file saved again unchanged
    does not count as a change; an edit does.
    """
    if not folder.exists():
        return []
    return [
        (str(path.relative_to(folder)), hashlib.sha256(path.read_bytes()).hexdigest()[:16])
        for path in sorted(folder.rglob(pattern))
        if path.is_file()
    ]


@dataclass
class StepRecord:
    """One attempt at one step of a run."""

    step: str
    status: str
    started_at: datetime
    finished_at: datetime
    input_fingerprint: str | None = None
    output_fingerprint: str | None = None
    row_counts: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    bundle_version: str | None = None
    error: str | None = None

    @property
    def duration_seconds(self) -> float:
        return round((self.finished_at - self.started_at).total_seconds(), 3)


class RunHistory:
    """Read and append the run history; each call opens and closes its own connection.

    Short connections keep the file free for a second reader (`slotrec check`, the
    dashboard) between writes; DuckDB allows one writer process at a time.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        if read_only:
            return duckdb.connect(str(self.path), read_only=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(self.path))
        con.execute(_SCHEMA)
        return con

    def start_run(self, run_id: str, as_of: date, from_date: date, started_at: datetime) -> None:
        """Record that a run began."""
        with self._connect() as con:
            con.execute(
                "insert into runs (run_id, as_of, from_date, status, started_at) "
                "values (?, ?, ?, 'running', ?)",
                [run_id, as_of, from_date, started_at],
            )

    def finish_run(
        self,
        run_id: str,
        status: str,
        finished_at: datetime,
        failed_step: str | None = None,
        error: str | None = None,
        report_path: Path | None = None,
    ) -> None:
        """Record how a run ended."""
        with self._connect() as con:
            con.execute(
                """
                update runs set status = ?, finished_at = ?,
                    duration_seconds = epoch(?::timestamptz) - epoch(started_at),
                    failed_step = ?, error = ?, report_path = ?
                where run_id = ?
                """,
                [
                    status,
                    finished_at,
                    finished_at,
                    failed_step,
                    error,
                    str(report_path) if report_path else None,
                    run_id,
                ],
            )

    def record_step(self, run_id: str, as_of: date, from_date: date, record: StepRecord) -> None:
        """Append one step attempt."""
        with self._connect() as con:
            con.execute(
                "insert into run_steps values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    run_id,
                    as_of,
                    from_date,
                    record.step,
                    record.status,
                    record.started_at,
                    record.finished_at,
                    record.duration_seconds,
                    record.input_fingerprint,
                    record.output_fingerprint,
                    json.dumps(record.row_counts, default=str),
                    json.dumps(record.metrics, default=str),
                    record.bundle_version,
                    record.error,
                ],
            )

    def last_attempt(self, as_of: date, from_date: date, step: str) -> StepRecord | None:
        """The latest non-skipped attempt of `step` for this day and range, if any."""
        if not self.path.exists():
            return None
        with self._connect(read_only=True) as con:
            row = con.execute(
                """
                select step, status, started_at, finished_at, input_fingerprint,
                       output_fingerprint, row_counts, metrics, bundle_version, error
                from run_steps
                where as_of = ? and from_date = ? and step = ? and status <> 'skipped'
                order by started_at desc limit 1
                """,
                [as_of, from_date, step],
            ).fetchone()
        if row is None:
            return None
        return StepRecord(
            step=row[0],
            status=row[1],
            started_at=row[2],
            finished_at=row[3],
            input_fingerprint=row[4],
            output_fingerprint=row[5],
            row_counts=json.loads(row[6] or "{}"),
            metrics=json.loads(row[7] or "{}"),
            bundle_version=row[8],
            error=row[9],
        )

    def step_metrics_by_day(self, step: str, before: date | None = None) -> dict[date, dict]:
        """The metrics of each day's latest successful `step`, optionally only days < `before`."""
        if not self.path.exists():
            return {}
        with self._connect(read_only=True) as con:
            rows = con.execute(
                """
                select as_of, metrics from run_steps
                where step = ? and status = 'ok' and (? is null or as_of < ?)
                qualify row_number() over (partition by as_of order by started_at desc) = 1
                order by as_of
                """,
                [step, before, before],
            ).fetchall()
        return {day: json.loads(metrics or "{}") for day, metrics in rows}

    def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest runs, newest first."""
        if not self.path.exists():
            return []
        with self._connect(read_only=True) as con:
            frame = con.execute("select * from runs order by started_at desc limit ?", [limit]).df()
        return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        """The step attempts of one run, in order."""
        with self._connect(read_only=True) as con:
            frame = con.execute(
                "select * from run_steps where run_id = ? order by started_at", [run_id]
            ).df()
        return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]
