"""The command line: bad arguments get a clear message and a non-zero exit."""

from __future__ import annotations

import json

import pandas as pd
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


def _play_log(tmp_path):
    """30 users, each playing 6 of 12 items in time order (enough to hold two plays out)."""
    rows = [
        (f"u{user}", f"i{(user + step) % 12}", 1_000 * user + step)
        for user in range(30)
        for step in range(6)
    ]
    path = tmp_path / "plays.csv"
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).to_csv(path, index=False)
    return path


def test_train_on_a_file_in_sequence_order_records_the_setting(tmp_path):
    out = tmp_path / "eval.json"
    result = runner.invoke(
        app,
        [
            "train",
            "--interactions",
            str(_play_log(tmp_path)),
            "--history-order",
            "sequence",
            "--history-decay",
            "0.7",
            "--epochs",
            "2",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    config = json.loads(out.read_text())["training"]["config"]
    assert (config["history_order"], config["history_decay"]) == ("sequence", 0.7)


def test_train_rejects_an_unknown_history_order(tmp_path):
    result = runner.invoke(
        app, ["train", "--interactions", str(_play_log(tmp_path)), "--history-order", "random"]
    )
    assert result.exit_code == 2
    assert "--history-order" in result.output and "'random'" in result.output


def test_train_rejects_a_history_decay_outside_zero_to_one(tmp_path):
    result = runner.invoke(
        app, ["train", "--interactions", str(_play_log(tmp_path)), "--history-decay", "0"]
    )
    assert result.exit_code == 2
    assert "--history-decay" in result.output
