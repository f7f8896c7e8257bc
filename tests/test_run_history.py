"""The run history and the resume rule, on the real DuckDB ops database, without dbt."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from slotrec.core.run_history import RunHistory, fingerprint
from slotrec.core.run_report import RunReport
from slotrec.core.settings import Settings
from slotrec.daily import _Steps, tell_service_to_reload

DAY = date(2026, 2, 1)


class Pipeline:
    """Two steps whose inputs and outputs the test controls; counts how often each ran."""

    def __init__(self, history: RunHistory) -> None:
        self.history = history
        self.inputs = {"a": 1, "b": 1}
        self.outputs = {"a": 1, "b": 1}
        self.ran: list[str] = []
        self.broken: set[str] = set()

    def run(self, resume: bool) -> RunReport:
        report = RunReport(
            as_of=DAY.isoformat(), from_date=DAY.isoformat(), run_id=str(len(self.ran))
        )
        self.history.start_run(report.run_id, DAY, DAY, datetime.now(UTC))
        steps = _Steps(self.history, report, DAY, DAY, resume, notify=lambda _: None)
        for name in ("a", "b"):
            steps.run(
                name,
                name,
                lambda name=name: self._work(name),
                lambda name=name: [self.inputs[name]],
                lambda name=name: [self.outputs[name]],
            )
        return report

    def _work(self, name: str) -> dict:
        self.ran.append(name)
        if name in self.broken:
            raise RuntimeError(f"{name} broke")
        return {"result": f"{name}-{len(self.ran)}", "rows": 3}


@pytest.fixture
def pipeline(tmp_path):
    return Pipeline(RunHistory(tmp_path / "ops" / "runs.duckdb"))


def _statuses(report: RunReport) -> dict[str, str]:
    return {s["step"]: s["status"] for s in report.steps}


def test_resume_skips_finished_steps_with_unchanged_inputs(pipeline):
    pipeline.run(resume=False)
    report = pipeline.run(resume=True)
    assert _statuses(report) == {"a": "skipped", "b": "skipped"}
    assert pipeline.ran == ["a", "b"]


def test_without_resume_every_step_runs_again(pipeline):
    pipeline.run(resume=False)
    pipeline.run(resume=False)
    assert pipeline.ran == ["a", "b", "a", "b"]


def test_changed_inputs_or_outputs_rerun_the_step(pipeline):
    pipeline.run(resume=False)
    pipeline.inputs["a"] = 2  # new raw data
    pipeline.outputs["b"] = 2  # someone rebuilt what b left behind
    report = pipeline.run(resume=True)
    assert _statuses(report) == {"a": "ok", "b": "ok"}


def test_a_failed_step_is_redone_and_the_finished_one_is_not(pipeline):
    pipeline.broken = {"b"}
    with pytest.raises(RuntimeError, match="b broke"):
        pipeline.run(resume=False)
    pipeline.broken = set()
    report = pipeline.run(resume=True)
    assert _statuses(report) == {"a": "skipped", "b": "ok"}
    assert pipeline.ran == ["a", "b", "b"]


def test_every_attempt_is_recorded_with_its_outcome(pipeline):
    pipeline.broken = {"b"}
    with pytest.raises(RuntimeError):
        pipeline.run(resume=False)
    last = pipeline.history.last_attempt(DAY, DAY, "b")
    assert last is not None and last.status == "failed" and last.error == "b broke"
    first = pipeline.history.last_attempt(DAY, DAY, "a")
    assert first is not None
    assert first.metrics == {"result": "a-1", "rows": 3}
    assert first.row_counts == {"rows": 3}
    assert first.input_fingerprint == fingerprint([1])


def test_reload_hook_is_silent_without_a_url_and_reports_a_dead_service(tmp_path):
    assert tell_service_to_reload(Settings(data_dir=tmp_path)) == {"status": "not_configured"}
    # port 9 (discard) on localhost: nothing listens, the connection is refused at once
    dead = tell_service_to_reload(Settings(data_dir=tmp_path, service_url="http://127.0.0.1:9"))
    assert dead["status"] == "failed"
    assert dead["url"] == "http://127.0.0.1:9/reload"


def test_reload_hook_posts_with_the_admin_token(tmp_path):
    import http.server
    import threading

    seen: list[tuple[str, str | None]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append((self.path, self.headers.get("Authorization")))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"model_version": "slotrec-ncf:new"}')

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        settings = Settings(data_dir=tmp_path, service_url=url, admin_token="s3cret")
        result = tell_service_to_reload(settings)
    finally:
        server.shutdown()
    assert result["status"] == "ok" and result["http_status"] == 200
    assert "slotrec-ncf:new" in result["body"]
    assert seen == [("/reload", "Bearer s3cret")]


def test_the_summary_shows_skipped_steps_alerts_and_drift():
    from rich.console import Console

    from slotrec.core.run_report import print_summary

    report = RunReport(as_of="2026-02-01", from_date="2026-02-01", status="ok")
    report.step_seconds = {"transform": 0.0, "monitor": 2.5}
    report.steps = [
        {"step": "transform", "status": "skipped", "seconds": 0.0},
        {"step": "monitor", "status": "ok", "seconds": 2.5},
    ]
    report.alerts = ["ALERT: hr10 0.2000 is +35.5% below its trailing 7-day median 0.3100"]
    report.monitoring = {
        "data_drift": {
            "interactions": {"drifted_columns": ["theme"], "columns": 6, "is_drifted": False},
            "user_features": {"note": "no reference rows: drift not measured"},
        },
        "quality": {
            "checks": [{"metric": "hr10", "value": 0.2, "median": 0.31}],
        },
        "reports_dir": "/data/reports/2026-02-01",
    }
    console = Console(record=True, width=200)
    print_summary(report, console)
    text = console.export_text()
    assert "transform skipped, monitor 2.5s" in text
    assert "alert: ALERT: hr10 0.2000" in text
    assert "data drift (interactions): no drift, 1 of 6 columns drifted" in text
    assert "hr10 0.2000 (median 0.3100)" in text
    assert "monitoring reports: /data/reports/2026-02-01" in text
