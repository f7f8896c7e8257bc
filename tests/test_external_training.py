"""`slotrec train --interactions FILE`: bad files are refused with the file and problem named."""

from __future__ import annotations

import pandas as pd
import pytest

from training.external import InteractionColumns, InteractionsFileError, read_interactions

COLUMNS = InteractionColumns(user="user", item="item", timestamp="ts", weight="seconds")


def _write(tmp_path, frame: pd.DataFrame, name: str = "plays.csv"):
    path = tmp_path / name
    if name.endswith(".parquet"):
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    return path


def test_reads_csv_and_parquet_with_dates_or_numbers(tmp_path):
    frame = pd.DataFrame(
        {
            "user": ["a", "b"],
            "item": ["x", "y"],
            "ts": ["2026-01-01", "2026-01-02"],
            "seconds": [10, 20],
        }
    )
    read = read_interactions(_write(tmp_path, frame), COLUMNS)
    assert pd.api.types.is_datetime64_any_dtype(read["ts"])
    parquet = read_interactions(_write(tmp_path, frame.assign(ts=[1, 2]), "p.parquet"), COLUMNS)
    assert parquet["seconds"].tolist() == [10, 20]


def test_missing_column_is_named(tmp_path):
    path = _write(tmp_path, pd.DataFrame({"user": ["a"], "item": ["x"], "ts": [1]}))
    with pytest.raises(InteractionsFileError, match=r"missing column\(s\) seconds"):
        read_interactions(path, COLUMNS)


def test_negative_weight_and_bad_timestamps_are_refused(tmp_path):
    bad_weight = pd.DataFrame({"user": ["a"], "item": ["x"], "ts": [1], "seconds": [-5]})
    with pytest.raises(InteractionsFileError, match="seconds must hold non-negative numbers"):
        read_interactions(_write(tmp_path, bad_weight), COLUMNS)
    bad_time = pd.DataFrame({"user": ["a"], "item": ["x"], "ts": ["soon"], "seconds": [1]})
    with pytest.raises(InteractionsFileError, match="ts is neither numbers nor dates"):
        read_interactions(_write(tmp_path, bad_time, "t.csv"), COLUMNS)


def test_unsupported_format_and_missing_file(tmp_path):
    (tmp_path / "plays.json").write_text("{}")
    with pytest.raises(InteractionsFileError, match="unsupported format"):
        read_interactions(tmp_path / "plays.json", COLUMNS)
    with pytest.raises(InteractionsFileError, match="no such file"):
        read_interactions(tmp_path / "nope.csv", COLUMNS)
