"""The report every daily run leaves behind: JSON for machines, one screen for people."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console
from rich.table import Table

from slotrec.core.atomic import write_json_atomic


@dataclass
class DayIngest:
    """Rows of one delivery day: in, quarantined by reason, out."""

    day: str
    files: int
    rows_in: int
    rows_quarantined: dict[str, int]
    rows_out: int


@dataclass
class RunReport:
    """Everything a daily run did, step by step; written even when the run fails."""

    as_of: str
    from_date: str
    run_id: str = ""
    status: str = "running"
    failed_step: str | None = None
    error: str | None = None
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    finished_at: str | None = None
    step_seconds: dict[str, float] = field(default_factory=dict)
    ingest: list[DayIngest] = field(default_factory=list)
    marts: dict[str, int] = field(default_factory=dict)
    features: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    service_reload: dict[str, Any] = field(default_factory=dict)
    monitoring: dict[str, Any] = field(default_factory=dict)
    # one entry per step attempt: {"step", "status" (ok | skipped | failed), "seconds"}
    steps: list[dict[str, Any]] = field(default_factory=list)
    # monitoring alerts (model quality below its trailing median, …): the run still succeeds
    alerts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def rows_in(self) -> int:
        return sum(d.rows_in for d in self.ingest)

    @property
    def rows_out(self) -> int:
        return sum(d.rows_out for d in self.ingest)

    def quarantined_by_reason(self) -> dict[str, int]:
        """Quarantined rows per reason, summed over the run's delivery days."""
        totals: dict[str, int] = {}
        for day in self.ingest:
            for reason, count in day.rows_quarantined.items():
                totals[reason] = totals.get(reason, 0) + count
        return dict(sorted(totals.items()))

    def to_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["totals"] = {
            "rows_in": self.rows_in,
            "rows_quarantined": sum(self.quarantined_by_reason().values()),
            "rows_out": self.rows_out,
            "quarantined_by_reason": self.quarantined_by_reason(),
        }
        return payload

    def finish(self, status: str) -> None:
        self.status = status
        self.finished_at = datetime.now(UTC).isoformat()

    def write(self, run_dir: Path) -> Path:
        """Write `report.json` into the run's folder atomically and return its path."""
        path = run_dir / "report.json"
        write_json_atomic(path, self.to_dict())
        return path


INGEST_COUNTS_QUERY = """
    select counts.delivered_on, counts.outcome, counts.is_clean, counts.row_count,
           coalesce(files.file_count, 0)
    from daily_ingest_counts as counts
    left join delivery_checks as files on counts.delivered_on = files.delivered_on
    where counts.delivered_on between $1 and $2
    order by counts.delivered_on, counts.outcome_order
    """


def read_ingest_counts(warehouse: Path, start: date, end: date) -> list[DayIngest]:
    """Per delivery day, rows in / quarantined by reason / out, from `daily_ingest_counts`.

    The mart has a row for every outcome of every delivered day (zero when none occurred);
    the report keeps only the reasons that did occur.
    """
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            INGEST_COUNTS_QUERY,
            [start, end],
        ).fetchall()
    days: dict[str, DayIngest] = {}
    for day, outcome, is_clean, count, files in rows:
        key = day.isoformat()
        entry = days.setdefault(key, DayIngest(key, int(files), 0, {}, 0))
        entry.rows_in += int(count)
        if is_clean:
            entry.rows_out += int(count)
        elif count:
            entry.rows_quarantined[outcome] = int(count)
    return list(days.values())


def count_marts(warehouse: Path, tables: tuple[str, ...]) -> dict[str, int]:
    """Row counts of the named marts."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        counts = {}
        for table in tables:
            row = con.execute(f"select count(*) from {table}").fetchone()
            counts[table] = int(row[0]) if row else 0
    return counts


def print_summary(report: RunReport, console: Console, report_path: Path | None = None) -> None:
    """One screen: status, per-day rows in/quarantined/out, reasons, marts, warnings."""
    colour = "green" if report.status == "ok" else "red"
    console.rule(f"slotrec daily {report.as_of}: [{colour}]{report.status}[/{colour}]")
    days = Table(title="raw events by delivery day", show_edge=False)
    for column in ("day", "files", "rows in", "quarantined", "rows out"):
        days.add_column(column, justify="right")
    for day in report.ingest:
        days.add_row(
            day.day,
            str(day.files),
            f"{day.rows_in:,}",
            f"{sum(day.rows_quarantined.values()):,}",
            f"{day.rows_out:,}",
        )
    console.print(days)
    reasons = report.quarantined_by_reason()
    if reasons:
        table = Table(title="quarantined by reason", show_edge=False)
        table.add_column("reason")
        table.add_column("rows", justify="right")
        for reason, count in reasons.items():
            table.add_row(reason, f"{count:,}")
        console.print(table)
    if report.marts:
        console.print("marts: " + ", ".join(f"{k} {v:,}" for k, v in report.marts.items()))
    if report.features:
        console.print(f"features: {report.features}")
    if report.training:
        t = report.training
        verdict = "promoted" if t.get("promoted") else "kept the serving bundle"
        console.print(f"training: bundle {t.get('bundle')} {verdict} ({t['gate']['reason']})")
        console.print(
            "validation NDCG@10: "
            + ", ".join(f"{k} {v:.4f}" for k, v in t.get("validation_ndcg10", {}).items())
        )
    if report.monitoring:
        _print_monitoring(report.monitoring, console)
    if report.service_reload:
        console.print(f"service reload: {report.service_reload['status']}")
    skipped = {s["step"] for s in report.steps if s["status"] == "skipped"}
    timings = ", ".join(
        f"{k} skipped" if k in skipped else f"{k} {v:.1f}s" for k, v in report.step_seconds.items()
    )
    console.print(f"steps: {timings}")
    for alert in report.alerts:
        console.print(f"[red]alert:[/red] {alert}")
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    if report.error:
        console.print(f"[red]error in {report.failed_step}:[/red] {report.error}")
    if report_path is not None:
        console.print(f"report: {report_path}")


def _print_monitoring(monitoring: dict[str, Any], console: Console) -> None:
    """Drift flags, quality against its history, and where the reports are."""
    for name, drift in monitoring.get("data_drift", {}).items():
        if "drifted_columns" in drift:
            flag = "[yellow]drift[/yellow]" if drift["is_drifted"] else "no drift"
            console.print(
                f"data drift ({name}): {flag}, {len(drift['drifted_columns'])} of "
                f"{drift['columns']} columns drifted"
            )
    quality = monitoring.get("quality", {})
    if quality.get("checks"):
        console.print(
            "quality vs trailing median: "
            + ", ".join(
                f"{c['metric']} {c['value']:.4f} (median {c['median']:.4f})"
                if c["median"] is not None
                else f"{c['metric']} {c['value']:.4f} (no history yet)"
                for c in quality["checks"]
            )
        )
    embedding = monitoring.get("embedding_drift", {})
    if "mean_aligned_cosine" in embedding:
        console.print(
            f"embedding drift vs {embedding['previous_bundle']}: aligned cosine "
            f"{embedding['mean_aligned_cosine']:.3f}, neighbour overlap@10 "
            f"{embedding['neighbour_overlap']:.3f}"
        )
    if monitoring.get("reports_dir"):
        console.print(f"monitoring reports: {monitoring['reports_dir']}")
    if monitoring.get("daily_report"):
        console.print(f"daily report: {monitoring['daily_report']}")
