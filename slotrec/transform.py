"""Run the dbt project (`dbt build`: models and their tests) as one all-or-nothing step.

dbt writes into a copy of the warehouse; only when every model and every test succeeded is the
copy renamed over the live file. A failed build — a broken model, a failing data test, a killed
process — therefore leaves yesterday's marts exactly as they were for Feast and training.

With `SLOTREC_DBT_TARGET=spark` the same models build on a local Spark (dbt-spark's session
method) into tables under `<data_dir>/warehouse/spark`. Spark's tables are many files with a
metastore, not one file to copy, so that build has no copy-and-swap: a failed run can leave
some of the run's days rewritten, and the next successful run rewrites them again.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from slotrec.core.settings import Settings

log = logging.getLogger(__name__)


class TransformError(Exception):
    """`dbt build` failed; the live warehouse was left untouched."""


@dataclass(frozen=True)
class TransformResult:
    """Outcome of one successful `dbt build`."""

    seconds: float
    warehouse: Path
    models: int
    tests: int


# Settings that are also run settings of the player_risk model.
RISK_RULE_SETTINGS = (
    "risk_long_session_seconds",
    "risk_long_session_min_count",
    "risk_night_end_hour",
    "risk_night_min_sessions",
    "risk_night_min_share",
    "risk_chase_min_losses",
    "risk_chase_min_share",
    "risk_escalation_min_seconds",
    "risk_escalation_min_growth",
    "risk_high_min_signals",
)


def dbt_executable() -> str:
    """The `dbt` entry point installed beside the running interpreter."""
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def dbt_vars(
    settings: Settings, as_of: date, from_date: date | None
) -> dict[str, str | int | float]:
    """The variables every slotrec model reads (see `dbt_project/dbt_project.yml`)."""
    return {
        "as_of": as_of.isoformat(),
        "from_date": (from_date or as_of).isoformat(),
        "data_dir": str(settings.layout.root),
        "interaction_window_days": settings.interaction_window_days,
        # the ingest checks' bounds (int_events_checked, delivery_session_checks)
        "max_event_amount": settings.max_event_amount,
        "max_repeated_event_share": settings.max_repeated_event_share,
        # the at-risk rule thresholds (dbt_project/macros/risk_rules.sql)
        **{name: getattr(settings, name) for name in RISK_RULE_SETTINGS},
    }


def dbt_run_env(settings: Settings, as_of: date, from_date: date | None) -> dict[str, str]:
    """`dbt_vars` as the SLOTREC_<NAME> environment variables the project's run settings read.

    Passed this way rather than with `--vars`: dbt discards its whole parse cache
    (`target/partial_parse.msgpack`) whenever `--vars` change, which is every daily run, but
    re-parses only the files that read an environment variable whose value changed.
    """
    return {
        f"SLOTREC_{name.upper()}": str(value)
        for name, value in dbt_vars(settings, as_of, from_date).items()
    }


def spark_dir(settings: Settings) -> Path:
    """Where the Spark target keeps its tables, metastore and scratch space (profiles.yml)."""
    return settings.layout.warehouse_path.parent / "spark"


def run_dbt(
    settings: Settings,
    args: list[str],
    warehouse: Path,
    on_line: Callable[[str], None] | None = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run one dbt command in the project folder against the given DuckDB file.

    dbt runs in its own process so that its global logging and adapter state never leak into
    the caller, and so that its progress lines can be streamed as they come. Its target folder
    (with the parse cache) stays under the data directory, so consecutive runs reuse the parse.
    """
    dbt_dir = settings.layout.root / "dbt"
    env = {
        **os.environ,
        **(extra_env or {}),
        "SLOTREC_WAREHOUSE_PATH": str(warehouse),
        "SLOTREC_DBT_THREADS": str(settings.dbt_threads),
        "SLOTREC_DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit,
        "SLOTREC_DBT_TARGET": settings.dbt_target,
        "SLOTREC_SPARK_DIR": str(spark_dir(settings)),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    command = [
        dbt_executable(),
        "--no-use-colors",
        *args,
        "--profiles-dir",
        str(settings.dbt_project_dir),
        "--project-dir",
        str(settings.dbt_project_dir),
        "--target-path",
        str(dbt_dir / "target"),
        "--log-path",
        str(dbt_dir / "logs"),
    ]
    proc = subprocess.Popen(
        command,
        cwd=settings.dbt_project_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        lines.append(line)
        if on_line is not None:
            on_line(line)
    returncode = proc.wait()
    return subprocess.CompletedProcess(command, returncode, "\n".join(lines), "")


def _failure_summary(output: str) -> str:
    """The lines of dbt's output that say what failed, for the error message."""
    keep = [
        line
        for line in output.splitlines()
        if any(word in line for word in ("ERROR", "FAIL", "Error", "Failure", "error"))
    ]
    return "\n".join(keep[-15:]) or output[-2000:]


def _staged_warehouse(settings: Settings) -> Path:
    """The copy of the warehouse that dbt builds into before it replaces the live file.

    Always the same path for a data directory: the path is part of dbt's profile, and a changed
    profile would throw the parse cache away.
    """
    live = settings.layout.warehouse_path
    return live.with_name(live.name + ".next")


def parse(settings: Settings, as_of: date, from_date: date | None = None) -> float:
    """`dbt parse` for this data directory, leaving dbt's parse cache where `build` finds it.

    A build re-parses only what changed since the last parse or build of the same data
    directory; the first one in a new directory parses the whole project. Returns seconds.

    Raises:
        TransformError: the project does not parse.
    """
    started = time.perf_counter()
    env = dbt_run_env(settings, as_of, from_date)
    proc = run_dbt(settings, ["parse"], _staged_warehouse(settings), extra_env=env)
    if proc.returncode != 0:
        raise TransformError(
            f"dbt parse failed (exit {proc.returncode}).\n{_failure_summary(proc.stdout)}"
        )
    return time.perf_counter() - started


def build(
    settings: Settings,
    as_of: date,
    from_date: date | None = None,
    on_line: Callable[[str], None] | None = None,
) -> TransformResult:
    """`dbt build` the delivery days `from_date`..`as_of` and swap the warehouse in atomically.

    Raises:
        TransformError: dbt failed (a model error or a failing test); the message carries dbt's
            failure lines and the live warehouse is unchanged.
    """
    if settings.dbt_target == "spark":
        return _build_on_spark(settings, as_of, from_date, on_line)
    live = settings.layout.warehouse_path
    live.parent.mkdir(parents=True, exist_ok=True)
    staged = _staged_warehouse(settings)
    staged.unlink(missing_ok=True)
    if live.exists():
        shutil.copyfile(live, staged)

    started = time.perf_counter()
    # dbt unit tests check the SQL logic, not the data: CI runs them (tests/test_dbt_project.py),
    # and production builds leave them out as dbt recommends
    args = ["build", "--exclude-resource-type", "unit_test"]
    proc = run_dbt(settings, args, staged, on_line, dbt_run_env(settings, as_of, from_date))
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        guard = _delivered_twice_message(settings, staged)
        staged.unlink(missing_ok=True)
        raise TransformError(
            f"dbt build for {as_of} failed (exit {proc.returncode}); the warehouse was left "
            f"as it was.\n{guard}{_failure_summary(proc.stdout)}"
        )
    os.replace(staged, live)
    models, tests = _count_results(settings)
    log.info("dbt build ok in %.1fs: %d models, %d tests", seconds, models, tests)
    return TransformResult(seconds=seconds, warehouse=live, models=models, tests=tests)


def _build_on_spark(
    settings: Settings,
    as_of: date,
    from_date: date | None,
    on_line: Callable[[str], None] | None,
) -> TransformResult:
    """`build` on the Spark target: the same dbt command, writing the tables in place."""
    tables = spark_dir(settings)
    tables.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    args = ["build", "--exclude-resource-type", "unit_test"]
    proc = run_dbt(
        settings,
        args,
        settings.layout.warehouse_path,
        on_line,
        dbt_run_env(settings, as_of, from_date),
    )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise TransformError(
            f"dbt build on Spark for {as_of} failed (exit {proc.returncode}).\n"
            f"{_failure_summary(proc.stdout)}"
        )
    models, tests = _count_results(settings)
    log.info("dbt build on Spark ok in %.1fs: %d models, %d tests", seconds, models, tests)
    return TransformResult(seconds=seconds, warehouse=tables, models=models, tests=tests)


# The dbt test that stops a run whose delivery is an export delivered twice (marts/_models.yml).
EXPORT_GUARD_TEST = "export_delivered_twice"


def _delivered_twice_message(settings: Settings, staged: Path) -> str:
    """What the export guard found, in words, when it is among the failed tests; else ''.

    Read from the staged warehouse dbt just built (the `delivery_checks` rows over the bar),
    before that copy is thrown away.
    """
    failed = [
        r["unique_id"]
        for r in _read_run_results(settings).get("results", [])
        if r.get("status") in ("fail", "error") and EXPORT_GUARD_TEST in r.get("unique_id", "")
    ]
    if not failed:
        return ""
    import duckdb

    try:
        with duckdb.connect(str(staged), read_only=True) as con:
            rows = con.execute(
                "select delivered_on, repeated_event_count, play_event_count, "
                "repeated_event_share, max_repeated_event_share from delivery_checks "
                "where repeated_event_share > max_repeated_event_share order by 1"
            ).fetchall()
    except duckdb.Error:
        rows = []
    lines = [
        f"delivery {day} looks like an export delivered twice: {repeated:,} of its "
        f"{events:,} play events ({share:.0%}) repeat an earlier event exactly under new ids "
        f"(the bar is SLOTREC_MAX_REPEATED_EVENT_SHARE = {bar:g}); remove the second copy "
        f"from raw/events/day={day}/ and run the day again."
        for day, repeated, events, share, bar in rows
    ]
    found = lines or ["an export looks delivered twice (test export_delivered_twice)."]
    return "\n".join(found) + "\n"


def _read_run_results(settings: Settings) -> dict[str, Any]:
    """dbt's `run_results.json` of the last command, or an empty dict when there is none."""
    path = settings.layout.root / "dbt" / "target" / "run_results.json"
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _count_results(settings: Settings) -> tuple[int, int]:
    """Count built models and passed tests from dbt's `run_results.json`."""
    results = _read_run_results(settings).get("results", [])
    models = sum(1 for r in results if r["unique_id"].startswith("model."))
    tests = sum(1 for r in results if r["unique_id"].startswith(("test.", "unit_test.")))
    return models, tests


@dataclass(frozen=True)
class BuildProfile:
    """Where the last `dbt build` spent its time, from its `run_results.json`.

    Attributes:
        run_seconds: dbt's own elapsed time for running the nodes (after start-up and parse).
        slowest_nodes: the slowest models and tests, `unique_id` -> seconds, slowest first.
    """

    run_seconds: float
    slowest_nodes: dict[str, float]


def last_build_profile(settings: Settings, top: int = 10) -> BuildProfile:
    """Per-node timings of the last dbt command run for this data directory."""
    loaded = _read_run_results(settings)
    results = sorted(
        loaded.get("results", []), key=lambda r: r.get("execution_time", 0.0), reverse=True
    )
    return BuildProfile(
        run_seconds=round(float(loaded.get("elapsed_time", 0.0)), 2),
        slowest_nodes={r["unique_id"]: round(r["execution_time"], 2) for r in results[:top]},
    )
