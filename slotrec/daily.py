"""`slotrec daily`: one day of the pipeline, every stage that exists, in order.

check raw files → dbt build (atomic warehouse swap) → export feature tables → Feast apply +
materialize → train → evaluate → gate → promote → tell the service to reload → monitoring →
daily report page → run report. Each step is timed, logged and recorded in the run history; a
failure stops the run (except in the daily report page, which only warns), records which step
failed and why in the report, and leaves everything the previous run produced in place (the
warehouse, the online store, the promoted bundle).
"""

from __future__ import annotations

import logging
import statistics
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from slotrec import ingest, transform
from slotrec.core.run_history import (
    STEP_FAILED,
    STEP_OK,
    STEP_SKIPPED,
    RunHistory,
    StepRecord,
    content_state,
    file_state,
    fingerprint,
    new_run_id,
)
from slotrec.core.run_report import DayIngest, RunReport, count_marts, read_ingest_counts
from slotrec.core.settings import DataLayout, Settings

log = logging.getLogger(__name__)

MART_TABLES = ("users", "slots", "interactions", "user_features", "slot_features")
# The volume check compares a day with the median of up to this many earlier delivery days …
VOLUME_TRAILING_DAYS = 7
# … and only once at least this many are known (a young deployment has no baseline yet).
VOLUME_MIN_HISTORY_DAYS = 3


class StepFailed(Exception):
    """A pipeline step failed; `step` names it and the report has been written."""

    def __init__(self, step: str, message: str, report_path: Path) -> None:
        super().__init__(message)
        self.step = step
        self.report_path = report_path


def delivered_volumes(history: RunHistory, before: date) -> dict[date, int]:
    """Raw rows delivered per day before `before`, from the run history's `check_raw` steps.

    A backfill run records every day of its range; when a day was checked more than once, the
    latest check counts (a re-delivered day replaces the first delivery).
    """
    volumes: dict[date, int] = {}
    for _, metrics in sorted(history.step_metrics_by_day("check_raw", before=before).items()):
        for day in metrics.get("days", []):
            volumes[date.fromisoformat(day["day"])] = int(day["rows"])
    return {day: rows for day, rows in volumes.items() if day < before}


def volume_warnings(
    days: list[dict[str, Any]], earlier: dict[date, int], factor: float
) -> list[str]:
    """Warn about empty delivery days and days far above or below the trailing median.

    Each day of the run (`days`: the check_raw step's per-day rows) is compared with the median
    of the previous `VOLUME_TRAILING_DAYS` non-empty delivery days (from `earlier`, the run
    history, and the run's own earlier days), once `VOLUME_MIN_HISTORY_DAYS` of them are known.
    A day above `factor` x the median is a spike (a duplicated export, a bot), one below
    median / `factor` a drop (a partial feed); the run goes on, the report says so.
    """
    warnings = []
    known = dict(earlier)
    for entry in sorted(days, key=lambda d: d["day"]):
        day, rows = date.fromisoformat(entry["day"]), int(entry["rows"])
        trailing = [known[d] for d in sorted(known) if d < day and known[d] > 0]
        trailing = trailing[-VOLUME_TRAILING_DAYS:]
        median = statistics.median(trailing) if trailing else 0.0
        if rows == 0:
            warnings.append(f"no events for {day}: no raw event rows were delivered")
        elif len(trailing) >= VOLUME_MIN_HISTORY_DAYS and median > 0:
            if rows > factor * median:
                warnings.append(
                    f"volume spike on {day}: {rows:,} raw rows, over {factor:g}x the median "
                    f"of {median:,.0f} of the previous {len(trailing)} delivery days"
                )
            elif rows < median / factor:
                warnings.append(
                    f"volume drop on {day}: {rows:,} raw rows, under 1/{factor:g} of the "
                    f"median of {median:,.0f} of the previous {len(trailing)} delivery days"
                )
        known[day] = rows
    return warnings


class _Steps:
    """Runs the steps of one run: timing, logging, the run history and `--resume` skipping.

    A step declares its inputs (what it reads) and outputs (what it leaves behind) as
    fingerprintable parts. With `resume`, a step is skipped when this day's last attempt
    finished with the same input fingerprint and its outputs are still as it left them (nobody
    rebuilt the warehouse or promoted another bundle since); its recorded result is reused.
    """

    def __init__(
        self,
        history: RunHistory,
        report: RunReport,
        as_of: date,
        from_date: date,
        resume: bool,
        notify: Callable[[str], None],
    ) -> None:
        self.history = history
        self.report = report
        self.as_of = as_of
        self.from_date = from_date
        self.resume = resume
        self.notify = notify

    def run(
        self,
        step: str,
        title: str,
        work: Callable[[], dict[str, Any]],
        inputs: Callable[[], list[object]],
        outputs: Callable[[], list[object]],
    ) -> dict[str, Any]:
        """Run (or skip) one step; returns its result; raises what `work` raises."""
        input_fp = fingerprint(inputs())
        if self.resume:
            last = self.history.last_attempt(self.as_of, self.from_date, step)
            if (
                last is not None
                and last.status == STEP_OK
                and last.input_fingerprint == input_fp
                and last.output_fingerprint == fingerprint(outputs())
            ):
                self.notify(f"{title}: done earlier with the same inputs, skipped")
                now = datetime.now(UTC)
                self._record(
                    StepRecord(step, STEP_SKIPPED, now, now, input_fp, last.output_fingerprint)
                )
                self.report.step_seconds[step] = 0.0
                return last.metrics
        self.notify(title)
        started = datetime.now(UTC)
        clock = time.perf_counter()
        try:
            result = work()
        except Exception as exc:
            self._record(
                StepRecord(step, STEP_FAILED, started, datetime.now(UTC), input_fp, error=str(exc))
            )
            self.report.step_seconds[step] = round(time.perf_counter() - clock, 3)
            raise
        seconds = round(time.perf_counter() - clock, 3)
        self.report.step_seconds[step] = seconds
        log.info("step %s finished in %.1fs", step, seconds)
        record = StepRecord(
            step,
            STEP_OK,
            started,
            datetime.now(UTC),
            input_fp,
            fingerprint(outputs()),
            row_counts=_row_counts(result),
            metrics=result,
            bundle_version=result.get("bundle") if isinstance(result.get("bundle"), str) else None,
        )
        self._record(record)
        return result

    def _record(self, record: StepRecord) -> None:
        self.report.steps.append(
            {"step": record.step, "status": record.status, "seconds": record.duration_seconds}
        )
        self.history.record_step(self.report.run_id, self.as_of, self.from_date, record)


def _row_counts(result: dict[str, Any]) -> dict[str, Any]:
    """The counts a step's result carries (keys ending in `_count`, `rows` or `marts`)."""
    return {
        key: value
        for key, value in result.items()
        if key.endswith(("_count", "rows", "rows_written")) or key == "marts"
    }


def _tree_state(folder: Path, pattern: str = "*") -> list[tuple[str, int, int]]:
    return file_state(folder.rglob(pattern)) if folder.exists() else []


@dataclass
class DailyRun:
    """One run of the daily pipeline while it runs: what every step reads and leaves."""

    settings: Settings
    as_of: date
    start: date
    report: RunReport
    history: RunHistory
    steps: _Steps
    with_features: bool
    with_training: bool
    with_monitoring: bool
    on_dbt_line: Callable[[str], None] | None
    checked: dict[str, Any] = field(default_factory=dict)

    @property
    def layout(self) -> DataLayout:
        return self.settings.layout

    def fail(self, step: str, exc: Exception) -> StepFailed:
        """Close the run as failed at `step` (report written, history updated)."""
        self.report.failed_step = step
        self.report.error = str(exc)
        self.report.finish("failed")
        path = self.report.write(self.layout.run_dir(self.as_of))
        self.history.finish_run(
            self.report.run_id, "failed", datetime.now(UTC), step, str(exc), path
        )
        return StepFailed(step, str(exc), path)

    # --- the fingerprints `--resume` compares (see `_Steps`) ------------------------------

    def raw_inputs(self) -> list[object]:
        days = ingest.days_between(self.start, self.as_of)
        day_files = [_tree_state(self.layout.raw_events_day_dir(day)) for day in days]
        layout = self.layout
        reference = file_state(
            [layout.slot_catalogue_path, layout.players_path, layout.onboarding_path]
        )
        return [day_files, reference]

    def warehouse_state(self) -> list[object]:
        return [file_state([self.layout.warehouse_path])]

    def feature_outputs(self) -> list[object]:
        layout = self.layout
        return [_tree_state(layout.feature_export_dir), file_state([layout.feast_online_path])]

    def promoted_state(self) -> list[object]:
        return [file_state([self.layout.promoted_path])]


def _check_raw(run: DailyRun) -> None:
    """Every raw file readable and in the contract, before anything is written."""

    def check() -> dict[str, Any]:
        days = ingest.days_between(run.start, run.as_of)
        ingest.check_reference_files(run.layout)
        checked = ingest.check_event_days(run.layout, days)
        log.info(
            "raw files ok: %d rows in %d files",
            sum(d.rows for d in checked),
            sum(len(d.files) for d in checked),
        )
        return {
            "days": [
                {"day": d.day.isoformat(), "files": len(d.files), "rows": d.rows} for d in checked
            ],
            "raw_rows": sum(d.rows for d in checked),
            "warnings": [w for d in checked for w in d.warnings],
        }

    try:
        run.checked = run.steps.run("check_raw", "check raw files", check, run.raw_inputs, list)
    except (ingest.RawDataError, ValueError) as exc:
        raise run.fail("check_raw", exc) from exc
    run.report.warnings.extend(run.checked.get("warnings", []))
    run.report.warnings.extend(
        volume_warnings(
            run.checked["days"],
            delivered_volumes(run.history, run.start),
            run.settings.volume_spike_factor,
        )
    )


def _transform(run: DailyRun) -> None:
    """dbt build of the run's days, swapped in only when every model and test passed."""
    settings = run.settings

    def dbt_inputs() -> list[object]:
        project = [
            content_state(settings.dbt_project_dir / folder, "*.*")
            for folder in ("models", "macros", "tests")
        ]
        return [run.raw_inputs(), project, transform.dbt_vars(settings, run.as_of, run.start)]

    def build() -> dict[str, Any]:
        transform.build(settings, run.as_of, run.start, on_line=run.on_dbt_line)
        return {"marts": count_marts(run.layout.warehouse_path, MART_TABLES)}

    try:
        built = run.steps.run("transform", "dbt build", build, dbt_inputs, run.warehouse_state)
    except transform.TransformError as exc:
        raise run.fail("transform", exc) from exc
    report = run.report
    report.ingest = read_ingest_counts(run.layout.warehouse_path, run.start, run.as_of)
    seen = {d.day for d in report.ingest}
    for day in run.checked["days"]:
        if day["day"] not in seen:
            report.ingest.append(DayIngest(day["day"], day["files"], 0, {}, 0))
    report.ingest.sort(key=lambda d: d.day)
    report.marts = built["marts"]


def _features(run: DailyRun) -> None:
    """Export the feature marts, apply the definitions, materialize the day online."""
    if not run.with_features:
        return
    try:
        run.report.features = run.steps.run(
            "features",
            "feast apply + materialize",
            lambda: load_features(run.settings, run.as_of),
            lambda: [run.warehouse_state(), content_state(run.settings.feature_repo_dir, "*.py")],
            run.feature_outputs,
        )
    except Exception as exc:  # Feast raises many types; the report must say which step
        raise run.fail("features", exc) from exc


def _train(run: DailyRun) -> None:
    """Retrain, gate, promote, and tell the running service to reload."""
    if not (run.with_features and run.with_training):
        return
    report = run.report
    # Nothing delivered for the whole run: retraining would learn nothing new, and a bundle
    # trained on yesterday's data again must not replace the serving one by chance.
    if run.checked["raw_rows"] == 0:
        days = f"{run.start} to {run.as_of}" if run.start != run.as_of else f"{run.as_of}"
        report.warnings.append(
            f"no events for {days}: retrain skipped, the promoted bundle keeps serving"
        )
        return
    try:
        report.training = run.steps.run(
            "train",
            "train → evaluate → gate → promote",
            lambda: train_and_gate(run.settings, run.as_of),
            lambda: [run.warehouse_state(), run.feature_outputs()],
            run.promoted_state,
        )
    except Exception as exc:  # a failed retrain must never touch the promoted bundle
        raise run.fail("train", exc) from exc
    if report.training.get("promoted"):
        report.service_reload = tell_service_to_reload(run.settings)
        if report.service_reload["status"] == "failed":
            report.warnings.append(f"the service did not reload: {report.service_reload['error']}")


def _monitor(run: DailyRun) -> None:
    """Drift, quality, recommendations and responsible play; the daily report for people."""
    if not run.with_monitoring:
        return
    report = run.report
    try:
        report.monitoring = run.steps.run(
            "monitor",
            "monitoring: drift, quality, recommendations",
            lambda: run_monitoring(run.settings, run.as_of, report.training, run.history),
            lambda: [run.warehouse_state(), run.promoted_state(), report.training.get("bundle")],
            lambda: [_monitor_outputs(run.layout.reports_dir(run.as_of))],
        )
    except Exception as exc:  # monitoring must say which step broke, like every other
        raise run.fail("monitor", exc) from exc
    report.alerts.extend(report.monitoring.get("alerts", []))
    report.warnings.extend(report.monitoring.get("warnings", []))
    write_daily_report(run.settings, run.as_of, report, run.steps, run.history)


# The daily run, in order. Each step records itself in the run history (`_Steps`), skips what
# its options leave out, and fails the run naming itself.
DAILY_STEPS: tuple[Callable[[DailyRun], None], ...] = (
    _check_raw,
    _transform,
    _features,
    _train,
    _monitor,
)


def run_daily(
    settings: Settings,
    as_of: date,
    from_date: date | None = None,
    with_features: bool = True,
    with_training: bool = True,
    on_step: Callable[[str], None] | None = None,
    on_dbt_line: Callable[[str], None] | None = None,
    *,
    resume: bool = False,
    with_monitoring: bool = True,
) -> tuple[RunReport, Path]:
    """Run the pipeline for delivery days `from_date`..`as_of` (one day by default).

    Every step of `DAILY_STEPS` is timed, logged and recorded in the run history
    (`<data>/ops/runs.duckdb`). Re-running a day redoes every step and gives the same result;
    with `resume`, steps this day already finished with unchanged inputs are skipped and a
    failed step is redone.

    Returns:
        The run report and the path it was written to.

    Raises:
        StepFailed: a step failed; the report (status "failed") is already written.
    """
    start = from_date or as_of
    report = RunReport(as_of=as_of.isoformat(), from_date=start.isoformat())
    report.run_id = new_run_id(as_of)
    notify = on_step or (lambda step: log.info("step: %s", step))
    history = RunHistory(settings.layout.run_history_path)
    history.start_run(report.run_id, as_of, start, datetime.now(UTC))
    run = DailyRun(
        settings=settings,
        as_of=as_of,
        start=start,
        report=report,
        history=history,
        steps=_Steps(history, report, as_of, start, resume, notify),
        with_features=with_features,
        with_training=with_training,
        with_monitoring=with_monitoring,
        on_dbt_line=on_dbt_line,
    )
    for step in DAILY_STEPS:
        step(run)
    report.finish("ok")
    path = report.write(settings.layout.run_dir(as_of))
    history.finish_run(report.run_id, "ok", datetime.now(UTC), report_path=path)
    return report, path


def run_monitoring(
    settings: Settings, as_of: date, training: dict[str, Any], history: RunHistory
) -> dict[str, Any]:
    """The monitoring step: drift, model quality history, embedding and recommendation drift."""
    from monitoring.daily import monitor_day

    return monitor_day(settings, as_of, training, history)


# The report step writes these next to the monitor step's files; they are not the monitor
# step's output (else rebuilding the page would make `--resume` redo the monitoring).
_REPORT_STEP_FILES = frozenset({"daily_report.json", "ab_readout.json"})


def _monitor_outputs(folder: Path) -> list[tuple[str, int, int]]:
    return [f for f in _tree_state(folder, "*.json") if Path(f[0]).name not in _REPORT_STEP_FILES]


def write_daily_report(
    settings: Settings, as_of: date, report: RunReport, steps: _Steps, history: RunHistory
) -> Path | None:
    """The `report` step: the day's HTML page for people (`monitoring.daily_report`).

    Never fails the run: everything before it is done, and a page is a convenience. A failure
    is logged, recorded as the step's failed attempt in the run history and added to the run
    report's warnings. Returns the page's path, or None when it failed.
    """
    from monitoring.daily_report import build_daily_report

    page = settings.layout.reports_dir(as_of) / "daily_report.html"
    try:
        result = steps.run(
            "report",
            "daily report",
            lambda: {"daily_report": str(build_daily_report(settings, as_of, history))},
            # always rebuilt, also with --resume: the service's counters and the new-game
            # registry change between runs without touching any file the run tracks
            lambda: [datetime.now(UTC).isoformat()],
            lambda: [file_state([page])],
        )
    except Exception as exc:  # the page must not cost the run what it already did
        log.warning("daily report failed: %s", exc, exc_info=True)
        report.warnings.append(f"daily report not written: {type(exc).__name__}: {exc}")
        return None
    path = Path(result["daily_report"])
    report.monitoring["daily_report"] = str(path)
    log.info("daily report: %s", path)
    return path


# --- hook: tell the running service to reload --------------------------------------------------
RELOAD_TIMEOUT_SECONDS = 10.0


def tell_service_to_reload(settings: Settings) -> dict[str, Any]:
    """Ask the running service to adopt the newly promoted bundle (`POST <service_url>/reload`).

    Called after a promotion, and only when `service_url` is set. The run never fails because
    of it: a service that is down simply adopts the bundle when it next starts (it reads
    `models/promoted.json`), so the outcome is reported, not raised.

    Returns:
        {"status": "not_configured" | "ok" | "failed", ...}
    """
    if not settings.service_url:
        return {"status": "not_configured"}
    url = settings.service_url.rstrip("/") + "/reload"
    headers = {"Content-Type": "application/json"}
    if settings.admin_token is not None:
        headers["Authorization"] = f"Bearer {settings.admin_token.get_secret_value()}"
    request = urllib.request.Request(url, data=b"{}", headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=RELOAD_TIMEOUT_SECONDS) as response:
            body = response.read(2000).decode("utf-8", "replace")
            return {"status": "ok", "url": url, "http_status": response.status, "body": body}
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log.warning("could not tell the service at %s to reload: %s", url, exc)
        return {"status": "failed", "url": url, "error": f"{url}: {exc}"}


def train_and_gate(settings: Settings, as_of: date) -> dict[str, Any]:
    """Retrain on the fresh marts, write the bundle, promote it if it passes the gate."""
    from slotrec.simulator.truth import simulated_truth
    from training.pipeline import run_training
    from training.promotion import PromotionRegistry

    # The bundle serving before this run: the embedding drift compares the new one with it.
    previous = PromotionRegistry(settings.layout.promoted_path).current
    # on a simulated world, its hidden truth grades the lists too (None elsewhere)
    outcome = run_training(settings, as_of, truth=simulated_truth(settings.layout))
    summary = outcome.summary()
    summary["previous_bundle"] = previous
    test = outcome.bundle.metrics["test"]["full"]["neumf"]
    summary["test_hr10"] = float(test["hr10"])
    summary["test_ndcg10"] = float(test["ndcg10"])
    return summary


def load_features(settings: Settings, as_of: date) -> dict[str, object]:
    """Export the feature marts, apply the Feast definitions and materialize up to `as_of`."""
    from feature_repo import store as feature_store

    exported = feature_store.export_feature_tables(settings)
    store = feature_store.open_store(settings)
    feature_store.apply_definitions(store, settings)
    result = feature_store.materialize(store, settings, as_of)
    return {
        "exported_rows": exported,
        "materialized_until": result.end.isoformat(),
        "online_rows_written": result.rows_by_view,
    }
