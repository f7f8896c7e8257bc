"""The daily report: every section from tiny hand-made sources, numbers checked by hand."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from bentos.new_games import NewGameRegistry
from monitoring.daily_report import build_daily_report
from monitoring.service_health import histogram_quantile, service_health, summarise_metrics
from slotrec.cli import app
from slotrec.core.policies.experiments import Strategy, assign, load_experiments
from slotrec.core.run_history import STEP_OK, RunHistory, StepRecord
from slotrec.core.run_report import RunReport
from slotrec.core.settings import Settings
from slotrec.daily import _Steps, write_daily_report

DAY = date(2026, 1, 10)
# HR@10 of the four days before DAY: median 0.305, threshold (15% margin) 0.25925; DAY drops
# to 0.20 → alert. NDCG@10: median 0.1525, threshold 0.129625; DAY 0.15 → no alert.
HR = [0.30, 0.32, 0.31, 0.29, 0.20]
NDCG = [0.15, 0.16, 0.155, 0.145, 0.15]
SECTIONS = ("data", "model", "drift", "ab", "new_games", "service", "responsible_play")


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(
        data_dir=tmp_path,
        new_game_exposure_cap=20,
        new_game_min_play_rate=0.05,
        **overrides,
    )


def _history(settings: Settings) -> RunHistory:
    history = RunHistory(settings.layout.run_history_path)
    for i, (hr, ndcg) in enumerate(zip(HR, NDCG, strict=True)):
        day = DAY - timedelta(days=len(HR) - 1 - i)
        now = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=i)
        metrics = {
            "bundle": f"neumf:{i}",
            "promoted": True,
            "test_hr10": hr,
            "test_ndcg10": ndcg,
            "test_full_ndcg10": {"neumf": ndcg, "popularity": 0.1},
            "test_full_ndcg10_vs": {
                "popularity": {"delta": ndcg - 0.1, "ci95": [0.02, 0.08], "p_value": 0.001},
                "ease": {"delta": 0.004, "ci95": [-0.003, 0.011], "p_value": 0.3},
            },
        }
        history.record_step(
            f"run-{i}", day, day, StepRecord("train", STEP_OK, now, now, metrics=metrics)
        )
    return history


def _warehouse(settings: Settings) -> None:
    """The marts the report reads, as dbt leaves them: `daily_ingest_counts`,
    `delivery_checks`, `recommendation_events` and `slots`."""
    path = settings.layout.warehouse_path
    path.parent.mkdir(parents=True)
    counts = [
        (DAY - timedelta(days=1), "clean", True, 100, 0),
        (DAY - timedelta(days=1), "duplicate_event", False, 3, 3),
        (DAY - timedelta(days=1), "negative_duration", False, 0, 6),
        (DAY, "clean", True, 120, 0),
        (DAY, "duplicate_event", False, 5, 3),
        (DAY, "negative_duration", False, 2, 6),
    ]
    # 40 players, one served list each; every second player clicks and plays 6 minutes.
    events: list[tuple[object, ...]] = []
    experiments, base = load_experiments(settings), Strategy.from_settings(settings)
    for n in range(40):
        user, request = f"u{n}", f"req-{n:08x}"
        at = datetime(2026, 1, 10, 12, n)
        experiment, variant, _ = assign(experiments, user, base)  # as the service logs it
        events.append(
            (f"i{n}", user, "s1", None, "impression", at, 0.0, request, DAY, experiment, variant)
        )
        if n % 2 == 0:
            events.append((f"c{n}", user, "s1", None, "click", at, 0.0, request, DAY, None, None))
            events.append(
                (f"p{n}", user, "s1", f"sess{n}", "heartbeat", at, 360.0, request, DAY, None, None)
            )
    with duckdb.connect(str(path)) as con:
        con.execute(
            "create table daily_ingest_counts (delivered_on date, outcome varchar, "
            "is_clean boolean, row_count bigint, outcome_order int)"
        )
        con.executemany("insert into daily_ingest_counts values (?, ?, ?, ?, ?)", counts)
        con.execute("create table delivery_checks (delivered_on date, file_count bigint)")
        con.execute(
            "insert into delivery_checks values (?, 1), (?, 1)", [DAY - timedelta(days=1), DAY]
        )
        con.execute(
            "create table recommendation_events (event_id varchar, user_id varchar, "
            "slot_id varchar, session_id varchar, event_type varchar, occurred_at timestamp, "
            "duration_seconds double, request_id varchar, delivered_on date, "
            "experiment varchar default null, variant varchar default null, "
            "list_position bigint default 1, guardrails varchar default null)"
        )
        con.executemany(
            "insert into recommendation_events (event_id, user_id, slot_id, session_id, "
            "event_type, occurred_at, duration_seconds, request_id, delivered_on, experiment, "
            "variant) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            events,
        )
        con.execute("create table slots as select 's1' as slot_id, 'low' as volatility")


def _run_report(settings: Settings) -> None:
    """An older run whose day the warehouse no longer holds: the report keeps its counts."""
    day = DAY - timedelta(days=2)
    folder = settings.layout.run_dir(day)
    folder.mkdir(parents=True)
    ingest: list[dict[str, object]] = [
        {"day": day.isoformat(), "files": 1, "rows_in": 50, "rows_out": 46}
    ]
    ingest[0]["rows_quarantined"] = {"too_late": 4}
    (folder / "report.json").write_text(json.dumps({"ingest": ingest}))


def _drift_files(settings: Settings) -> None:
    """The monitor step's files, in the shapes `monitoring.daily` writes them."""
    today = settings.layout.reports_dir(DAY)
    yesterday = settings.layout.reports_dir(DAY - timedelta(days=1))
    for folder, share, drifted in ((yesterday, 0.0, []), (today, 0.5, ["minutes", "plays"])):
        folder.mkdir(parents=True)
        summary = {
            "data_drift": {
                "interactions": {
                    "columns": 4,
                    "drifted_columns": drifted,
                    "drift_share": share,
                    "is_drifted": share >= 0.5,
                },
                "user_features": {"current_rows": 0, "note": "no current rows: drift not measured"},
            },
            "recommendations": {"note": "no served recommendations"},
        }
        (folder / "monitoring.json").write_text(json.dumps(summary))
    embedding = {
        "previous_bundle": "neumf:3",
        "new_bundle": "neumf:4",
        "mean_aligned_cosine": 0.95,
        "neighbour_overlap": 0.8,
        "k": 10,
        "is_drifted": False,
    }
    (today / "embedding_drift.json").write_text(json.dumps(embedding))
    snapshot = {
        "metrics": [
            {
                "config": {"type": "evidently:metric_v2:DriftedColumnsCount", "drift_share": 0.5},
                "value": {"count": 1.0, "share": 0.25},
            }
        ]
    }
    (today / "recommendations.json").write_text(json.dumps(snapshot))


def _registry(settings: Settings) -> None:
    """Cap 20, bar 5%: one game still exploring, one graduated, one retired."""
    registry = NewGameRegistry(settings.layout.root / "serving" / "new_games.sqlite")
    for slot_id, impressions, plays in (("g-new", 10, 1), ("g-good", 20, 2), ("g-bad", 25, 0)):
        registry.register({"slot_id": slot_id})
        registry.count_impressions([slot_id] * impressions)
        registry.count_plays([slot_id] * plays)


# The service's `/metrics` in Prometheus' text format, written out by hand: building it with
# prometheus_client would write into the multiprocess files BentoML points it at once any test
# in the same process has started the service, and the counts would add up across calls.
_METRICS = """\
# TYPE slotrec_requests_total counter
slotrec_requests_total{endpoint="recommend",outcome="ok"} 90.0
slotrec_requests_total{endpoint="recommend",outcome="fallback"} 10.0
# TYPE slotrec_fallbacks_total counter
slotrec_fallbacks_total{cause="no_model"} 10.0
# TYPE slotrec_request_seconds histogram
slotrec_request_seconds_bucket{endpoint="recommend",le="0.001"} 0.0
slotrec_request_seconds_bucket{endpoint="recommend",le="0.002"} 0.0
slotrec_request_seconds_bucket{endpoint="recommend",le="0.005"} 50.0
slotrec_request_seconds_bucket{endpoint="recommend",le="0.01"} 50.0
slotrec_request_seconds_bucket{endpoint="recommend",le="0.02"} 90.0
slotrec_request_seconds_bucket{endpoint="recommend",le="0.05"} 100.0
slotrec_request_seconds_bucket{endpoint="recommend",le="0.1"} 100.0
slotrec_request_seconds_bucket{endpoint="recommend",le="+Inf"} 100.0
slotrec_request_seconds_count{endpoint="recommend"} 100.0
slotrec_request_seconds_sum{endpoint="recommend"} 1.15
"""


def _metrics_text() -> bytes:
    """90 ok and 10 fallback recommends; latencies 50 × 5 ms, 40 × 15 ms, 10 × 30 ms."""
    return _METRICS.encode()


@pytest.fixture
def metrics_server() -> Iterator[str]:
    """A local stand-in for the service's `/metrics` (no network beyond loopback)."""
    body = _metrics_text()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/metrics" else 404)
            self.end_headers()
            self.wfile.write(body if self.path == "/metrics" else b"")

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def world(tmp_path: Path, metrics_server: str) -> Settings:
    settings = _settings(tmp_path, service_url=metrics_server)
    _history(settings)
    _warehouse(settings)
    _run_report(settings)
    _drift_files(settings)
    _registry(settings)
    return settings


def _sections_html(page: str) -> dict[str, str]:
    parts = re.split(r'<section id="section-([a-z_]+)">', page)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def test_the_page_has_every_section_with_a_plot_and_no_network_script(world: Settings):
    path = build_daily_report(world, DAY)
    assert path == world.layout.reports_dir(DAY) / "daily_report.html"
    page = path.read_text()
    sections = _sections_html(page)
    assert tuple(sections) == SECTIONS
    for name, content in sections.items():
        assert content.count('class="plotly-graph-div"') >= 1, f"no plot in section {name}"
    assert "<script src=" not in page  # plotly.js is inline: the page opens offline
    assert "model quality ALERT" in page and "DRIFT" in sections["drift"]
    # today's gaps to the baselines, with the verdict their intervals give
    assert "NeuMF ahead" in sections["model"] and "level (interval holds 0)" in sections["model"]


def test_the_json_holds_the_hand_computed_numbers(world: Settings):
    build_daily_report(world, DAY)
    payload = json.loads((world.layout.reports_dir(DAY) / "daily_report.json").read_text())
    assert payload["warnings"] == []
    s = payload["sections"]

    data = s["data"]
    assert [d["day"] for d in data["days"]] == ["2026-01-08", "2026-01-09", "2026-01-10"]
    assert data["today"] == {
        "day": "2026-01-10",
        "rows_in": 127,
        "rows_quarantined": 7,
        "quarantined_by_reason": {"duplicate_event": 5, "negative_duration": 2},
        "rows_out": 120,
    }
    assert data["days"][0]["rows_quarantined"] == 4  # from the older run's report
    assert data["quarantined_by_reason"] == {
        "duplicate_event": 8,
        "negative_duration": 2,
        "too_late": 4,
    }

    model = s["model"]
    assert [d["hr10"] for d in model["days"]] == HR
    assert model["days"][-1]["ndcg10"] == {"neumf": 0.15, "popularity": 0.1}
    assert model["vs_baselines"]["popularity"]["ci95"] == [0.02, 0.08]
    assert model["vs_baselines"]["popularity"]["delta"] == pytest.approx(0.05)
    checks = {c["metric"]: c for c in model["checks"]}
    assert checks["hr10"]["is_alert"] and checks["hr10"]["median"] == pytest.approx(0.305)
    assert checks["hr10"]["threshold"] == pytest.approx(0.25925)
    assert not checks["ndcg10"]["is_alert"] and model["is_alert"]

    drift = s["drift"]
    assert {k: v["status"] for k, v in drift["flags"].items()} == {
        "data drift: interactions": "DRIFT",
        "data drift: user_features": "NOT MEASURED",
        "embedding drift": "OK",
        "recommendation drift": "OK",
    }
    assert drift["drifted"] == ["data drift: interactions"]
    assert drift["trend"]["data drift: interactions"] == [
        {"day": "2026-01-09", "value": 0.0},
        {"day": "2026-01-10", "value": 0.5},
    ]

    games = {g["slot_id"]: g for g in s["new_games"]["games"]}
    assert {k: g["stage"] for k, g in games.items()} == {
        "g-new": "exploring",
        "g-good": "graduated",
        "g-bad": "retired",
    }
    assert games["g-good"]["play_rate"] == pytest.approx(0.1)
    assert (games["g-bad"]["impressions"], games["g-bad"]["plays"]) == (25, 0)

    ab = s["ab"]
    assert ab["status"] == "ok" and ab["experiment"] == "recent-weight-v1"
    experiments = load_experiments(world)
    base = Strategy.from_settings(world)
    expected: dict[str, int] = {}
    for n in range(40):
        variant = assign(experiments, f"u{n}", base)[1]
        expected[variant] = expected.get(variant, 0) + 1
    assert ab["exposures"] == expected and sum(expected.values()) == 40
    assert (world.layout.reports_dir(DAY) / "ab_readout.html").exists()

    service = s["service"]
    assert service["status"] == "ok"
    assert service["requests_by_outcome"] == {"fallback": 10, "ok": 90}
    assert service["fallback_share"] == pytest.approx(0.1)
    # p50: rank 50 of 100 ends the (0.002, 0.005] bucket; p99: 0.02 + 0.03 * 9/10
    assert service["latency_seconds"]["all"]["p50"] == pytest.approx(0.005)
    assert service["latency_seconds"]["all"]["p99"] == pytest.approx(0.047)


def test_an_empty_data_dir_says_so_plainly_in_every_section(tmp_path: Path):
    settings = _settings(tmp_path)
    page = build_daily_report(settings, DAY).read_text()
    sections = _sections_html(page)
    assert tuple(sections) == SECTIONS
    assert "no new game has been registered" in sections["new_games"]
    assert "Service not reachable" in sections["service"]
    assert "no experiment data" in sections["ab"]
    assert f"no model was trained on {DAY}" in sections["model"]
    assert "No served recommendations in the window" in sections["responsible_play"]
    payload = json.loads((settings.layout.reports_dir(DAY) / "daily_report.json").read_text())
    assert payload["sections"]["service"] == {"status": "not_configured"}


def test_an_unreachable_service_is_reported_not_raised():
    health = service_health("http://127.0.0.1:9", timeout=0.5)  # discard port: nothing there
    assert health["status"] == "unreachable" and health["url"] == "http://127.0.0.1:9/metrics"


def test_histogram_quantiles_interpolate_inside_the_bucket():
    buckets = [(0.01, 50.0), (0.02, 90.0), (float("inf"), 100.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.01)
    assert histogram_quantile(0.7, buckets) == pytest.approx(0.015)
    assert histogram_quantile(0.99, buckets) == pytest.approx(0.02)  # in +Inf: last bound
    assert histogram_quantile(0.5, [(0.01, 0.0), (float("inf"), 0.0)]) is None
    assert summarise_metrics(_metrics_text().decode())["fallbacks_by_cause"] == {"no_model": 10}


def test_a_broken_section_is_a_warning_and_the_page_is_still_written(tmp_path: Path):
    settings = _settings(tmp_path)
    folder = settings.layout.reports_dir(DAY)
    folder.mkdir(parents=True)
    (folder / "monitoring.json").write_text("{not json")
    build_daily_report(settings, DAY)
    payload = json.loads((folder / "daily_report.json").read_text())
    assert "drift" in payload["warnings"][0] and "not valid JSON" in payload["warnings"][0]
    assert "not valid JSON" in payload["sections"]["drift"]["error"]
    assert "not available" in _sections_html((folder / "daily_report.html").read_text())["drift"]


def test_the_daily_run_step_records_a_failed_report_as_a_warning(tmp_path: Path, monkeypatch):
    settings = _settings(tmp_path)
    history = RunHistory(settings.layout.run_history_path)
    report = RunReport(as_of=DAY.isoformat(), from_date=DAY.isoformat(), run_id="r1")
    steps = _Steps(history, report, DAY, DAY, False, lambda _: None)

    def broken(*_: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("monitoring.daily_report.build_daily_report", broken)
    assert write_daily_report(settings, DAY, report, steps, history) is None
    assert report.warnings == ["daily report not written: RuntimeError: disk full"]
    attempt = history.last_attempt(DAY, DAY, "report")
    assert attempt is not None and attempt.status == "failed" and attempt.error == "disk full"

    monkeypatch.undo()
    path = write_daily_report(settings, DAY, report, steps, history)
    assert path is not None and path.exists() and report.monitoring["daily_report"] == str(path)


def test_the_cli_rebuilds_the_page_and_refuses_a_day_without_a_run(world: Settings):
    runner = CliRunner()
    result = runner.invoke(
        app, ["report", "--as-of", DAY.isoformat(), "--data-dir", str(world.data_dir)]
    )
    assert result.exit_code == 0, result.output
    assert "daily report:" in result.output and "daily_report.html" in result.output
    missing = runner.invoke(
        app, ["report", "--as-of", "2025-01-01", "--data-dir", str(world.data_dir)]
    )
    assert missing.exit_code == 2 and "no daily run for 2025-01-01" in missing.output
