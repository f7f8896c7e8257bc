"""`slotrec daily`: one day of the pipeline, every stage that exists, in order.

check raw files → dbt build (atomic warehouse swap) → export feature tables → Feast apply +
materialize → train → evaluate → gate → promote → run report. Each step is timed; a failure
stops the run, records which step failed and why in the report, and leaves everything the
previous run produced in place (the warehouse, the online store, the promoted bundle).
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from slotrec import ingest, transform
from slotrec.run_report import DayIngest, RunReport, count_marts, read_ingest_counts
from slotrec.settings import Settings

log = logging.getLogger(__name__)

MART_TABLES = ("users", "slots", "interactions", "user_features", "slot_features")
# A delivery day with more than this multiple of the trailing median volume is flagged.
VOLUME_SPIKE_FACTOR = 5.0


class StepFailed(Exception):
    """A pipeline step failed; `step` names it and the report has been written."""

    def __init__(self, step: str, message: str, report_path: Path) -> None:
        super().__init__(message)
        self.step = step
        self.report_path = report_path


@contextmanager
def _timed(report: RunReport, step: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        report.step_seconds[step] = round(time.perf_counter() - started, 3)


def volume_warnings(report: RunReport) -> list[str]:
    """Warn about empty delivery days and days far above the run's median volume."""
    warnings = []
    volumes = [d.rows_in for d in report.ingest]
    median = statistics.median(volumes) if volumes else 0
    for day in report.ingest:
        if day.rows_in == 0:
            warnings.append(f"no raw events were delivered for {day.day}")
        elif median and len(volumes) >= 3 and day.rows_in > VOLUME_SPIKE_FACTOR * median:
            warnings.append(
                f"{day.day} delivered {day.rows_in:,} rows, over {VOLUME_SPIKE_FACTOR:g}x the "
                f"median of {median:,.0f}"
            )
    return warnings


def run_daily(
    settings: Settings,
    as_of: date,
    from_date: date | None = None,
    with_features: bool = True,
    with_training: bool = True,
    on_step: Callable[[str], None] | None = None,
    on_dbt_line: Callable[[str], None] | None = None,
) -> tuple[RunReport, Path]:
    """Run the pipeline for delivery days `from_date`..`as_of` (one day by default).

    Returns:
        The run report and the path it was written to.

    Raises:
        StepFailed: a step failed; the report (status "failed") is already written.
    """
    start = from_date or as_of
    layout = settings.layout
    report = RunReport(as_of=as_of.isoformat(), from_date=start.isoformat())
    run_dir = layout.run_dir(as_of)
    notify = on_step or (lambda step: log.info("step: %s", step))

    def fail(step: str, exc: Exception) -> StepFailed:
        report.failed_step = step
        report.error = str(exc)
        report.finish("failed")
        return StepFailed(step, str(exc), report.write(run_dir))

    notify("check raw files")
    with _timed(report, "check_raw"):
        try:
            days = ingest.days_between(start, as_of)
            ingest.check_reference_files(layout)
            checked = ingest.check_event_days(layout, days)
        except (ingest.RawDataError, ValueError) as exc:
            raise fail("check_raw", exc) from exc
    log.info(
        "raw files ok: %d rows in %d files",
        sum(d.rows for d in checked),
        sum(len(d.files) for d in checked),
    )

    notify("dbt build")
    with _timed(report, "transform"):
        try:
            transform.build(settings, as_of, start, on_line=on_dbt_line)
        except transform.TransformError as exc:
            raise fail("transform", exc) from exc
    report.ingest = read_ingest_counts(layout.warehouse_path, start, as_of)
    seen = {d.day for d in report.ingest}
    for day in checked:
        if day.day.isoformat() not in seen:
            report.ingest.append(DayIngest(day.day.isoformat(), len(day.files), 0, {}, 0))
    report.ingest.sort(key=lambda d: d.day)
    report.marts = count_marts(layout.warehouse_path, MART_TABLES)
    report.warnings.extend(volume_warnings(report))

    if with_features:
        notify("feast apply + materialize")
        with _timed(report, "features"):
            try:
                report.features = load_features(settings, as_of)
            except Exception as exc:  # Feast raises many types; the report must say which step
                raise fail("features", exc) from exc

    if with_features and with_training:
        notify("train → evaluate → gate → promote")
        with _timed(report, "train"):
            try:
                report.training = train_and_gate(settings, as_of)
            except Exception as exc:  # a failed retrain must never touch the promoted bundle
                raise fail("train", exc) from exc

    report.finish("ok")
    return report, report.write(run_dir)


def train_and_gate(settings: Settings, as_of: date) -> dict[str, object]:
    """Retrain on the fresh marts, write the bundle, promote it if it passes the gate."""
    from training.pipeline import run_training

    return run_training(settings, as_of).summary()


def load_features(settings: Settings, as_of: date) -> dict[str, object]:
    """Export the feature marts, apply the Feast definitions and materialize up to `as_of`."""
    from feature_repo import store as feature_store

    exported = feature_store.export_feature_tables(settings)
    store = feature_store.open_store(settings)
    feature_store.apply_definitions(store)
    result = feature_store.materialize(store, settings, as_of)
    return {
        "exported_rows": exported,
        "materialized_until": result.end.isoformat(),
        "online_rows_written": result.rows_by_view,
    }
