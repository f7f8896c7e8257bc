"""Model quality history: the trailing-median alert and the `slotrec check` exit status."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from typer.testing import CliRunner

from monitoring.quality import check_quality
from slotrec.cli import app
from slotrec.core.run_history import STEP_OK, RunHistory, StepRecord
from slotrec.core.settings import Settings

DAY = date(2026, 1, 10)
# five earlier days of HR@10: median 0.31, so the 15% margin puts the threshold at 0.2635
PAST = {
    DAY - timedelta(days=i + 1): {"hr10": v} for i, v in enumerate([0.30, 0.32, 0.31, 0.29, 0.33])
}


def test_a_drop_past_the_margin_alerts():
    (item,) = check_quality({"hr10": 0.25}, PAST, margin=0.15, window=7, min_history=3)
    assert item.is_alert
    assert item.median == pytest.approx(0.31)
    assert item.threshold == pytest.approx(0.2635)
    assert "hr10 0.2500" in item.message and "median 0.3100" in item.message
    assert "margin 15%" in item.message


def test_a_drop_within_the_margin_does_not_alert():
    (item,) = check_quality({"hr10": 0.27}, PAST, margin=0.15, window=7, min_history=3)
    assert not item.is_alert


def test_only_the_trailing_window_counts_and_short_history_never_alerts():
    # the latest four days: 0.30, 0.32, 0.31, 0.29 (the fifth, 0.33, is out of the window)
    (item,) = check_quality({"hr10": 0.25}, PAST, margin=0.15, window=4, min_history=2)
    assert item.median == pytest.approx(0.305)
    (young,) = check_quality({"hr10": 0.01}, PAST, margin=0.15, window=7, min_history=6)
    assert not young.is_alert and young.median is None


def _record(history: RunHistory, day: date, hr10: float, ndcg10: float) -> None:
    now = datetime.now(UTC)
    history.record_step(
        f"run-{day}",
        day,
        day,
        StepRecord("train", STEP_OK, now, now, metrics={"test_hr10": hr10, "test_ndcg10": ndcg10}),
    )


@pytest.fixture
def data_dir(tmp_path):
    history = RunHistory(Settings(data_dir=tmp_path).layout.run_history_path)
    for day, metrics in PAST.items():
        _record(history, day, metrics["hr10"], 0.15)
    _record(history, DAY, 0.25, 0.15)  # HR@10 fell, NDCG@10 did not
    _record(history, DAY + timedelta(days=1), 0.31, 0.15)
    return tmp_path


def test_check_exits_1_and_names_the_metric_on_alert(data_dir):
    result = CliRunner().invoke(app, ["check", "--as-of", str(DAY), "--data-dir", str(data_dir)])
    assert result.exit_code == 1
    assert "ALERT: hr10 0.2500" in result.output
    assert "median 0.3100" in result.output
    assert "ok: ndcg10" in result.output


def test_check_exits_0_on_a_healthy_day(data_dir):
    day = str(DAY + timedelta(days=1))
    result = CliRunner().invoke(app, ["check", "--as-of", day, "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output


def test_check_without_a_recorded_run_says_so(tmp_path):
    result = CliRunner().invoke(app, ["check", "--as-of", str(DAY), "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "no successful training run is recorded" in result.output
