"""The restriction registry and the operator's list file (unit level; the service: see below).

Service behaviour for a restricted player is tested in `test_service_direct.py` and
`test_service_http.py` (`restrict` / `restrictions` tests).
"""

from __future__ import annotations

import multiprocessing
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from bentos.restrictions import (
    Restriction,
    RestrictionFileError,
    RestrictionRegistry,
    read_restriction_file,
)
from slotrec.cli import app
from slotrec.core.settings import Settings

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
def registry(tmp_path) -> RestrictionRegistry:
    return RestrictionRegistry(tmp_path / "serving" / "restrictions.sqlite")


def _write_csv(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_set_remove_and_expiry(registry):
    assert registry.active("u1", NOW) is None
    registry.set("u1", "self_exclusion", None, reason="asked by phone")
    found = registry.active("u1", NOW)
    assert found is not None
    assert (found.kind, found.until_at, found.source, found.reason) == (
        "self_exclusion",
        None,
        "admin",
        "asked by phone",
    )
    assert registry.active("u2", NOW) is None  # only that player

    ends = NOW + timedelta(hours=24)
    registry.set("u2", "cooling_off", ends)
    assert registry.active("u2", NOW).until_at == ends
    assert registry.active("u2", ends - timedelta(seconds=1)) is not None
    assert registry.active("u2", ends) is None  # a cooling-off ends by itself
    assert registry.active("u2", ends + timedelta(days=1)) is None
    assert len(registry.of("u2")) == 1  # kept as history

    assert registry.remove("u1") is True
    assert registry.active("u1", NOW) is None
    assert registry.remove("u1") is False


def test_a_naive_until_is_utc_and_a_cooling_off_needs_an_end(registry):
    registry.set("u3", "cooling_off", datetime(2026, 12, 1, 0, 0))  # no zone: UTC
    assert registry.active("u3", NOW).until_at == datetime(2026, 12, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="cooling_off needs until_at"):
        registry.set("u4", "cooling_off", None)
    with pytest.raises(ValueError, match="kind 'ban' is not one of"):
        registry.set("u4", "ban", None)
    with pytest.raises(ValueError, match="not a valid id"):
        registry.set("has space", "self_exclusion", None)
    assert registry.of("u4") == []


def test_sources_are_independent_and_the_longest_restriction_answers(registry):
    registry.replace_source(
        "file", [Restriction("u5", "self_exclusion", None, "file", "operator list")]
    )
    registry.set("u5", "cooling_off", NOW + timedelta(hours=1))
    assert registry.active("u5", NOW).source == "file"  # no end beats an end
    assert registry.remove("u5", "admin") is True
    assert registry.active("u5", NOW).kind == "self_exclusion"  # the file's one stays
    counts = registry.replace_source("file", [])
    assert counts == {"loaded": 0, "lifted": 1, "in_force": 0}
    assert registry.active("u5", NOW) is None


def _set_in_another_process(path: str) -> None:
    RestrictionRegistry(Path(path)).set("u-other", "self_exclusion", None)


def test_a_change_by_another_process_is_seen_on_the_next_read(registry):
    assert registry.active("u-other") is None  # this connection has read the file before
    process = multiprocessing.get_context("spawn").Process(
        target=_set_in_another_process, args=(str(registry.path),)
    )
    process.start()
    process.join(60)
    assert process.exitcode == 0
    assert registry.active("u-other") is not None


def test_lookup_is_a_cheap_primary_key_read(registry):
    rows = [Restriction(f"u{i:07d}", "self_exclusion", None, "file") for i in range(0, 100_000, 2)]
    registry.replace_source("file", rows)
    registry.active("warm-up")
    n = 2000
    started = time.perf_counter()
    for i in range(n):
        registry.active(f"u{i:07d}")
    per_call_us = (time.perf_counter() - started) / n * 1e6
    print(f"restriction lookup: {per_call_us:.1f} µs per call (50,000 rows)")
    # generous bound for a shared 2-core machine; measured around 10 µs
    assert per_call_us < 500
    assert registry.active("u0000002") is not None and registry.active("u0000003") is None


def test_csv_file_loads_with_optional_until_and_reason(tmp_path):
    path = _write_csv(
        tmp_path / "restrictions.csv",
        "user_id,kind,until_at,reason\n"
        "u0001,self_exclusion,,\n"
        "u0002,cooling_off,2026-12-01T00:00:00Z,24h break\n"
        "u0003,self_exclusion,2027-06-01 00:00:00,6 months\n",
    )
    rows = read_restriction_file(path)
    assert [(r.user_id, r.kind, r.until_at, r.reason) for r in rows] == [
        ("u0001", "self_exclusion", None, None),
        ("u0002", "cooling_off", datetime(2026, 12, 1, tzinfo=UTC), "24h break"),
        ("u0003", "self_exclusion", datetime(2027, 6, 1, tzinfo=UTC), "6 months"),
    ]
    assert {r.source for r in rows} == {"file"}


def test_parquet_file_loads(tmp_path):
    path = tmp_path / "restrictions.parquet"
    table = pa.table(
        {
            "user_id": ["u0001", "u0002"],
            "kind": ["self_exclusion", "cooling_off"],
            "until_at": pa.array(
                [None, datetime(2026, 12, 1, tzinfo=UTC)], pa.timestamp("us", tz="UTC")
            ),
        }
    )
    pq.write_table(table, path)
    rows = read_restriction_file(path)
    assert [(r.user_id, r.until_at) for r in rows] == [
        ("u0001", None),
        ("u0002", datetime(2026, 12, 1, tzinfo=UTC)),
    ]


def test_bad_rows_are_named_and_nothing_is_loaded(tmp_path):
    path = _write_csv(
        tmp_path / "restrictions.csv",
        "user_id,kind,until_at\n"
        "u0001,self_exclusion,\n"
        "u0002,ban,\n"
        "has space,self_exclusion,\n"
        "u0004,cooling_off,next tuesday\n"
        "u0005,cooling_off,\n"
        "u0001,cooling_off,2026-12-01\n",
    )
    with pytest.raises(RestrictionFileError) as caught:
        read_restriction_file(path)
    message = str(caught.value)
    assert "5 bad row(s), nothing loaded" in message
    assert "line 3: kind 'ban' is not one of self_exclusion, cooling_off" in message
    assert "line 4: user_id 'has space' is not a valid id" in message
    assert "line 5: until_at 'next tuesday' is not an ISO 8601 timestamp" in message
    assert "line 6: a cooling_off needs until_at" in message
    assert "line 7: user_id 'u0001' already listed on line 2" in message
    assert "line 2:" not in message


def test_missing_columns_and_unknown_formats_are_refused(tmp_path):
    no_kind = _write_csv(tmp_path / "a.csv", "user_id,until_at\nu1,\n")
    with pytest.raises(RestrictionFileError, match="missing column\\(s\\) kind"):
        read_restriction_file(no_kind)
    with pytest.raises(RestrictionFileError, match=r"expected a \.csv or \.parquet"):
        read_restriction_file(_write_csv(tmp_path / "a.txt", "x"))
    with pytest.raises(RestrictionFileError, match="no such file"):
        read_restriction_file(tmp_path / "absent.csv")


def test_cli_load_applies_all_or_nothing(tmp_path):
    settings = Settings(data_dir=tmp_path)
    layout = settings.layout
    registry = RestrictionRegistry(layout.restrictions_registry_path)
    _write_csv(
        layout.restrictions_path,
        "user_id,kind,until_at\nu0001,self_exclusion,\nu0002,cooling_off,2020-01-01T00:00:00Z\n",
    )
    runner = CliRunner()
    loaded = runner.invoke(app, ["restrictions", "load", "--data-dir", str(tmp_path)])
    assert loaded.exit_code == 0, loaded.output
    assert "2 restriction(s) loaded" in loaded.output and "(1 in force now)" in loaded.output
    assert registry.active("u0001") is not None
    assert registry.active("u0002") is None  # its cooling-off ended in 2020

    bad = _write_csv(
        tmp_path / "next.csv", "user_id,kind,until_at\nu0009,self_exclusion,\nu0010,ban,\n"
    )
    refused = runner.invoke(app, ["restrictions", "load", str(bad), "--data-dir", str(tmp_path)])
    assert refused.exit_code == 1
    assert "line 3: kind 'ban'" in refused.output
    assert registry.active("u0009") is None  # nothing of the bad file applied
    assert registry.active("u0001") is not None  # and the previous list still holds

    fixed = _write_csv(tmp_path / "fixed.csv", "user_id,kind,until_at\nu0009,self_exclusion,\n")
    reloaded = runner.invoke(app, ["restrictions", "load", str(fixed), "--data-dir", str(tmp_path)])
    assert reloaded.exit_code == 0, reloaded.output
    assert "2 player(s) no longer listed" in reloaded.output
    assert registry.active("u0001") is None and registry.active("u0009") is not None
