"""The command line: bad arguments get a clear message and a non-zero exit."""

from __future__ import annotations

from typer.testing import CliRunner

from slotrec.cli import app

runner = CliRunner()


def test_bad_date_names_the_option():
    result = runner.invoke(app, ["daily", "--as-of", "2026-13-01"])
    assert result.exit_code == 2
    assert "--as-of" in result.output
    assert "YYYY-MM-DD" in result.output


def test_reversed_backfill_range_fails_before_writing(tmp_path):
    result = runner.invoke(
        app, ["daily", "--as-of", "2026-01-01", "--from", "2026-01-05", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "--from" in result.output
    assert "after --as-of" in result.output
    assert not any(tmp_path.iterdir())


def test_missing_raw_data_names_the_file(tmp_path):
    result = runner.invoke(app, ["daily", "--as-of", "2026-01-01", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "slots.parquet" in result.output
    assert "check_raw" in result.output


def test_features_without_a_warehouse_says_what_to_run(tmp_path):
    result = runner.invoke(app, ["features", "--as-of", "2026-01-01", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "slotrec transform" in result.output


def test_simulate_rejects_out_of_range_dirt_rate(tmp_path):
    result = runner.invoke(app, ["simulate", "--dirt-rate", "2", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "--dirt-rate" in result.output
