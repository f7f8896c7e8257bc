"""Hostile raw inputs: each gives one clear outcome and never corrupts the marts or the bundle.

One small simulated world (300 players x 40 slots x 5 days, seed 5) is built once: days 1-3
backfilled, day 4 run with a retrain that promotes a bundle. Every case copies it, spoils day 5's
raw files in one way, runs day 5, checks the outcome, then puts the real file back and checks
that the day re-runs to exactly what a clean run of day 5 gives. The volume check itself has
fast unit tests at the end.
"""

from __future__ import annotations

import json
import shutil
import statistics
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from slotrec.cli import app
from slotrec.core.run_history import RunHistory
from slotrec.core.run_report import RunReport
from slotrec.core.settings import Settings
from slotrec.daily import StepFailed, delivered_volumes, run_daily, volume_warnings
from slotrec.simulator import SimulationConfig, simulate_world

START = date(2026, 3, 1)
DAYS = 5
PREVIOUS = START + timedelta(days=DAYS - 2)
DAY = START + timedelta(days=DAYS - 1)
RAW_FILE = "part-00000.parquet"


def dump_warehouse(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table and view of the warehouse, all rows, in a stable order.

    Doubles are rounded to 9 significant digits: DuckDB's parallel sums add in no fixed order,
    so two builds of the same rows may differ in the last bits (never in a real digit).
    """

    def stable(value: Any) -> Any:
        return float(f"{value:.9g}") if isinstance(value, float) else value

    with duckdb.connect(str(path), read_only=True) as con:
        names = [
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'main' order by table_name"
            ).fetchall()
        ]
        return {
            name: sorted(
                (
                    tuple(stable(v) for v in row)
                    for row in con.execute(f"select * from {name}").fetchall()
                ),
                key=repr,
            )
            for name in names
        }


def state_files(settings: Settings) -> dict[str, bytes | None]:
    """What a failed run must leave byte-identical: warehouse, online store, promoted bundle."""
    layout = settings.layout
    paths = {
        "warehouse": layout.warehouse_path,
        "online_store": layout.feast_online_path,
        "promoted": layout.promoted_path,
    }
    for path in sorted(layout.feature_export_dir.rglob("*")):
        if path.is_file():
            paths[f"features/{path.relative_to(layout.feature_export_dir)}"] = path
    return {name: path.read_bytes() if path.exists() else None for name, path in paths.items()}


@dataclass(frozen=True)
class World:
    base: Path  # data dir after day 4: the state every case starts from
    day_file: Path  # the pristine raw file of day 5, kept outside the data dir
    before: dict[str, bytes | None]  # state_files of the base
    clean: RunReport  # a clean run of day 5
    clean_marts: dict[str, list[tuple[Any, ...]]]
    clean_checked: dict[str, tuple[Any, ...]]  # event_id -> checked row of day 5, clean run


def checked_rows(warehouse: Path, day: date) -> dict[str, tuple[Any, ...]]:
    """Day's rows of int_events_checked by event id (ids occurring once only)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select event_id, user_id, slot_id, event_type, occurred_at, duration_seconds, "
            "bet_amount, reject_reason from int_events_checked where delivered_on = ? "
            "and event_id in (select event_id from int_events_checked where delivered_on = ? "
            "group by event_id having count(*) = 1)",
            [day, day],
        ).fetchall()
    return {row[0]: row for row in rows}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("hostile")
    base = root / "base"
    settings = Settings(data_dir=base)
    config = SimulationConfig(
        seed=5, n_players=300, n_slots=40, days=DAYS, start_date=START, dirt_rate=0.02
    )
    simulate_world(config, settings.layout)
    run_daily(
        settings, PREVIOUS - timedelta(days=1), START, with_training=False, with_monitoring=False
    )
    previous, _ = run_daily(settings, PREVIOUS)
    assert previous.training["promoted"], previous.training["gate"]
    day_file = root / RAW_FILE
    shutil.copyfile(settings.layout.raw_events_day_dir(DAY) / RAW_FILE, day_file)
    before = state_files(settings)

    clean_dir = root / "clean"
    shutil.copytree(base, clean_dir)
    clean_settings = Settings(data_dir=clean_dir)
    clean, _ = run_daily(clean_settings, DAY)
    assert clean.status == "ok" and clean.warnings == []
    warehouse = clean_settings.layout.warehouse_path
    return World(
        base, day_file, before, clean, dump_warehouse(warehouse), checked_rows(warehouse, DAY)
    )


@pytest.fixture
def case(world: World, tmp_path: Path) -> Settings:
    """A private copy of the world after day 4, day 5's raw files still pristine."""
    data = tmp_path / "data"
    shutil.copytree(world.base, data)
    return Settings(data_dir=data)


def day_dir(settings: Settings) -> Path:
    return settings.layout.raw_events_day_dir(DAY)


def assert_nothing_changed(settings: Settings, world: World) -> None:
    assert state_files(settings) == world.before


def fix_and_rerun(settings: Settings, world: World) -> RunReport:
    """Put back the day's real delivery, run the day again: exactly the clean run's result."""
    folder = day_dir(settings)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    shutil.copyfile(world.day_file, folder / RAW_FILE)
    shutil.copyfile(Settings(data_dir=world.base).layout.players_path, settings.layout.players_path)
    report, _ = run_daily(settings, DAY)
    assert report.status == "ok"
    assert report.warnings == []
    assert report.ingest == world.clean.ingest
    assert report.marts == world.clean.marts
    assert dump_warehouse(settings.layout.warehouse_path) == world.clean_marts
    assert report.training["promoted"] == world.clean.training["promoted"]
    assert report.training["test_ndcg10"] == pytest.approx(world.clean.training["test_ndcg10"])
    return report


def failed_report(settings: Settings) -> dict[str, Any]:
    return json.loads((settings.layout.run_dir(DAY) / "report.json").read_text())


# --- 1. wrong types: quarantined with a reason, the rest of the day lands -------------------


def _as_text(table: pa.Table, garbage: dict[str, dict[int, str]]) -> pa.Table:
    """The table with its timestamps and numbers written as text (timestamps at +02:00)."""
    columns = {}
    for name in table.column_names:
        column = table[name]
        if name == "occurred_at":
            values = [
                None
                if v is None
                else (v + timedelta(hours=2)).replace(tzinfo=None).isoformat() + "+02:00"
                for v in column.to_pylist()
            ]
        elif name in ("duration_seconds", "bet_amount", "win_amount"):
            values = [None if v is None else repr(v) for v in column.to_pylist()]
        else:
            columns[name] = column
            continue
        for row, value in garbage.get(name, {}).items():
            values[row] = value
        columns[name] = pa.array(values, pa.string())
    return pa.table(columns)


@pytest.mark.slow
def test_wrong_types_are_quarantined_and_the_rest_of_the_day_lands(case, world):
    table = pq.read_table(world.day_file)
    half = table.num_rows // 2
    typed, text = table.slice(0, half), table.slice(half)
    # garbage only in rows the clean run kept, heartbeats (their duration is required)
    ids = text["event_id"].to_pylist()
    kinds = text["event_type"].to_pylist()
    usable = [
        i
        for i, event_id in enumerate(ids)
        if event_id in world.clean_checked
        and world.clean_checked[event_id][-1] is None
        and kinds[i] == "heartbeat"
    ]
    bad_duration, bad_time, bad_bet = usable[:5], usable[5:9], usable[9:12]
    garbage = {
        "duration_seconds": dict.fromkeys(bad_duration, "abc"),
        "occurred_at": dict.fromkeys(bad_time, "yesterday-ish"),
        "bet_amount": dict.fromkeys(bad_bet, "lots"),
    }
    folder = day_dir(case)
    pq.write_table(typed, folder / RAW_FILE)
    pq.write_table(_as_text(text, garbage), folder / "part-00001.parquet")

    report, _ = run_daily(case, DAY)

    assert report.status == "ok"
    clean_day, day = world.clean.ingest[-1], report.ingest[-1]
    assert (day.files, day.rows_in) == (2, clean_day.rows_in)
    expected = dict(clean_day.rows_quarantined)
    expected["null_required_field"] = expected.get("null_required_field", 0) + 9
    assert day.rows_quarantined == expected
    assert day.rows_out == clean_day.rows_out - 9
    assert (
        report.to_dict()["totals"]["quarantined_by_reason"]["null_required_field"]
        == (expected["null_required_field"])
    )
    text_file = folder / "part-00001.parquet"
    assert sorted(report.warnings) == [
        f"raw file {text_file}: column bet_amount is string, the contract says double; "
        "3 value(s) do not parse and are read as null",
        f"raw file {text_file}: column duration_seconds is string, the contract says double; "
        "5 value(s) do not parse and are read as null",
        f"raw file {text_file}: column occurred_at is string, the contract says "
        "timestamp[us, tz=UTC]; 4 value(s) do not parse and are read as null",
        f"raw file {text_file}: column win_amount is string, the contract says double; "
        "0 value(s) do not parse and are read as null",
    ]
    checked = checked_rows(case.layout.warehouse_path, DAY)
    spoiled = {ids[i] for i in bad_duration + bad_time}
    assert {checked[i][-1] for i in spoiled} == {"null_required_field"}
    # every other row landed exactly as in the clean run: the +02:00 text timestamps are the
    # same instants, the numbers the same values; only the unparseable bets are null
    for event_id, row in world.clean_checked.items():
        if event_id in spoiled:
            continue
        if event_id in {ids[i] for i in bad_bet}:
            assert checked[event_id][-2] is None
            assert checked[event_id][:-2] == row[:-2]
        else:
            assert checked[event_id] == row, event_id
    fix_and_rerun(case, world)


# --- 2. a missing required column: the CLI names file and column, exits 1 ------------------


@pytest.mark.slow
def test_missing_column_fails_the_cli_naming_file_and_column(case, world):
    path = day_dir(case) / RAW_FILE
    pq.write_table(pq.read_table(world.day_file).drop(["slot_id"]), path)

    result = CliRunner().invoke(
        app, ["daily", "--as-of", DAY.isoformat(), "--data-dir", str(case.data_dir)]
    )

    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "daily run failed at step 'check_raw'" in output
    assert f"raw file {path} lacks required column(s) slot_id" in output
    assert_nothing_changed(case, world)
    report = failed_report(case)
    assert (report["status"], report["failed_step"]) == ("failed", "check_raw")
    assert "slot_id" in report["error"] and str(path) in report["error"]
    (latest, *_) = RunHistory(case.layout.run_history_path).runs()
    assert (latest["status"], latest["failed_step"]) == ("failed", "check_raw")
    fix_and_rerun(case, world)


# --- 3. a truncated parquet file ------------------------------------------------------------


@pytest.mark.slow
def test_truncated_parquet_fails_naming_the_file(case, world):
    path = day_dir(case) / RAW_FILE
    data = world.day_file.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(StepFailed) as failure:
        run_daily(case, DAY)

    assert failure.value.step == "check_raw"
    assert str(failure.value).startswith(f"cannot read raw file {path}: ")
    assert_nothing_changed(case, world)
    assert failed_report(case)["failed_step"] == "check_raw"
    fix_and_rerun(case, world)


# --- 4. a 10x volume spike ------------------------------------------------------------------


def _copy_ids(table: pa.Table, columns: tuple[str, ...], copy: int) -> pa.Table:
    """The table with new ids in the given columns for copy number `copy` (null stays null).

    An id `u0000052` becomes `u30000052` for copy 3: still letters then digits (what the
    training id maps expect), and never one of the originals (one digit longer).
    """
    for name in columns:
        position = table.schema.get_field_index(name)
        head = pc.utf8_slice_codeunits(table[name], 0, 1)
        tail = pc.utf8_slice_codeunits(table[name], 1)
        renamed = pc.binary_join_element_wise(head, pa.scalar(str(copy)), tail, "")
        table = table.set_column(position, name, renamed)
    return table


@pytest.mark.slow
def test_ten_times_the_players_runs_with_a_volume_warning(case, world):
    # the day plus nine copies, each by its own (registered) players: a real 10x volume day
    table = pq.read_table(world.day_file)
    ids = ("event_id", "user_id", "session_id")
    pq.write_table(
        pa.concat_tables([table, *(_copy_ids(table, ids, k) for k in range(1, 10))]),
        day_dir(case) / RAW_FILE,
    )
    players = pq.read_table(case.layout.players_path)
    pq.write_table(
        pa.concat_tables([players, *(_copy_ids(players, ("user_id",), k) for k in range(1, 10))]),
        case.layout.players_path,
    )

    report, _ = run_daily(case, DAY)

    assert report.status == "ok"
    clean_day, day = world.clean.ingest[-1], report.ingest[-1]
    assert day.rows_in == 10 * clean_day.rows_in
    earlier = delivered_volumes(RunHistory(case.layout.run_history_path), DAY)
    assert sorted(earlier) == [START + timedelta(days=i) for i in range(DAYS - 1)]
    median = statistics.median(earlier.values())
    assert report.warnings[0] == (
        f"volume spike on {DAY}: {10 * clean_day.rows_in:,} raw rows, over 5x the median "
        f"of {median:,.0f} of the previous 4 delivery days"
    )
    # monitoring rightly sees the new players' play as drift; nothing else is wrong
    assert all(w.startswith("data drift in ") for w in report.warnings[1:])
    assert day.rows_quarantined == {k: 10 * v for k, v in clean_day.rows_quarantined.items()}
    assert day.rows_out == 10 * clean_day.rows_out
    # the gate still guards the serving bundle: a new one is promoted only if it passed
    promoted = case.layout.promoted_path.read_bytes()
    assert report.training["promoted"] == report.training["gate"]["promote"]
    assert (promoted == world.before["promoted"]) != report.training["promoted"]
    # No "fix and re-run" here: a real 10x day is data, not a defect, and it is kept. Taking
    # those players back out of the registry afterwards would break user_index, which is
    # append-only by design (a player's row in the embedding table never moves).


@pytest.mark.slow
def test_a_day_exported_ten_times_is_named_as_such_and_changes_nothing(case, world):
    # the same sessions ten times over with fresh event ids: 90% of the play repeats itself
    table = pq.read_table(world.day_file)
    pq.write_table(
        pa.concat_tables([_copy_ids(table, ("event_id",), k) for k in range(10)]),
        day_dir(case) / RAW_FILE,
    )

    with pytest.raises(StepFailed) as failure:
        run_daily(case, DAY)

    assert failure.value.step == "transform"
    message = str(failure.value)
    assert f"delivery {DAY} looks like an export delivered twice" in message
    assert "(90%) repeat an earlier event exactly under new ids" in message
    assert "export_delivered_twice" in message
    assert_nothing_changed(case, world)
    report = failed_report(case)
    # the check before dbt already saw the spike: the failed run's report says so too
    assert [w.split(":")[0] for w in report["warnings"]] == [f"volume spike on {DAY}"]
    fix_and_rerun(case, world)


@pytest.mark.slow
def test_yesterdays_export_delivered_again_today_is_named_and_changes_nothing(case, world):
    # day 4's file once more in day 5's folder, under new event and session ids
    yesterday = pq.read_table(
        Settings(data_dir=world.base).layout.raw_events_day_dir(PREVIOUS) / RAW_FILE
    )
    pq.write_table(
        _copy_ids(yesterday, ("event_id", "session_id"), 1), day_dir(case) / "again.parquet"
    )

    with pytest.raises(StepFailed) as failure:
        run_daily(case, DAY)

    assert failure.value.step == "transform"
    assert f"delivery {DAY} looks like an export delivered twice" in str(failure.value)
    assert_nothing_changed(case, world)
    fix_and_rerun(case, world)


@pytest.mark.slow
def test_a_few_sessions_reported_twice_are_quarantined_and_the_day_goes_on(case, world):
    # ten clean sessions re-sent under new event and session ids: a second tab, not a second
    # export (sessions whose rows were all clean in the clean run, started on this day)
    table = pq.read_table(world.day_file).to_pandas()
    clean_ids = {i for i, row in world.clean_checked.items() if row[-1] is None}
    whole = table.groupby("session_id").filter(
        lambda rows: (
            rows["event_id"].isin(clean_ids).all() and (rows["event_type"] == "session_start").any()
        )
    )
    sessions = sorted(whole["session_id"].unique())[:10]
    originals = pa.Table.from_pandas(
        table[table["session_id"].isin(sessions)], preserve_index=False
    )
    copies = _copy_ids(originals, ("event_id", "session_id"), 1).to_pandas()
    pq.write_table(
        pa.Table.from_pandas(copies, preserve_index=False), day_dir(case) / "tabs.parquet"
    )
    # each copy is a session on its original's slot at its original's times: one of the two
    # is out, every row of it on that slot; the copy's other lobby tiles are plain impressions
    played = copies[copies["event_type"] == "session_start"].set_index("session_id")["slot_id"]
    on_its_slot = int((copies["slot_id"] == copies["session_id"].map(played)).sum())
    assert len(sessions) == 10 and on_its_slot > 0

    report, _ = run_daily(case, DAY)

    assert report.status == "ok"
    [day] = [d for d in report.ingest if d.day == DAY.isoformat()]
    [clean_day] = [d for d in world.clean.ingest if d.day == DAY.isoformat()]
    before = clean_day.rows_quarantined["overlapping_session"]
    assert day.rows_quarantined["overlapping_session"] == before + on_its_slot
    assert day.rows_out == clean_day.rows_out + len(copies) - on_its_slot
    fix_and_rerun(case, world)


# --- 5. an empty day ------------------------------------------------------------------------


@pytest.mark.slow
def test_an_empty_day_warns_and_keeps_the_serving_bundle(case, world):
    base_marts = dump_warehouse(Settings(data_dir=world.base).layout.warehouse_path)
    folder = day_dir(case)
    shutil.rmtree(folder)
    # first no folder at all, then (on top) a file with the contract's columns and no rows
    for files in (0, 1):
        if files:
            folder.mkdir()
            pq.write_table(pq.read_table(world.day_file).slice(0, 0), folder / RAW_FILE)

        report, _ = run_daily(case, DAY)

        assert report.status == "ok"
        assert report.warnings == [
            f"no events for {DAY}: no raw event rows were delivered",
            f"no events for {DAY}: retrain skipped, the promoted bundle keeps serving",
        ]
        assert report.training == {}
        assert "train" not in report.step_seconds
        assert case.layout.promoted_path.read_bytes() == world.before["promoted"]
        assert report.rows_in == 0
        assert [(d.day, d.files, d.rows_in) for d in report.ingest] == [(DAY.isoformat(), files, 0)]
        # the earlier days' checked events and counts are exactly as before
        marts = dump_warehouse(case.layout.warehouse_path)
        for table in ("int_events_checked", "daily_ingest_counts", "quarantined_events"):
            assert marts[table] == base_marts[table], table
    fix_and_rerun(case, world)


# --- 6. a file of the wrong format ----------------------------------------------------------


@pytest.mark.slow
def test_a_file_of_the_wrong_format_fails_naming_it(case, world):
    # a CSV export in Latin-1, first named as such, then disguised as parquet
    for name in ("events.csv", "part-00001.parquet"):
        path = day_dir(case) / name
        path.write_bytes("event_id;user_id\nabc;Jürgen\n".encode("latin-1"))

        with pytest.raises(StepFailed) as failure:
            run_daily(case, DAY)

        assert failure.value.step == "check_raw"
        message = str(failure.value)
        if name.endswith(".csv"):
            expected = f"raw file {path} has an unsupported format (expected one of .parquet)"
            assert message == expected
        else:
            assert message.startswith(f"cannot read raw file {path}: ")
        assert_nothing_changed(case, world)
        path.unlink()
    fix_and_rerun(case, world)


# --- the volume check on its own (fast) -----------------------------------------------------


def _days(**rows: int) -> list[dict[str, Any]]:
    return [{"day": f"2026-01-{d[1:]}", "files": 1, "rows": n} for d, n in rows.items()]


EARLIER = {date(2026, 1, d): n for d, n in [(1, 1000), (2, 1200), (3, 900), (4, 1100)]}


def test_volume_spike_and_drop_against_the_trailing_median():
    assert volume_warnings(_days(d05=5500, d06=5000), EARLIER, 5.0) == [
        "volume spike on 2026-01-05: 5,500 raw rows, over 5x the median of 1,050 of the "
        "previous 4 delivery days"
    ]
    assert volume_warnings(_days(d05=209), EARLIER, 5.0) == [
        "volume drop on 2026-01-05: 209 raw rows, under 1/5 of the median of 1,050 of the "
        "previous 4 delivery days"
    ]
    assert volume_warnings(_days(d05=210, d06=5000), EARLIER, 5.0) == []
    assert volume_warnings(_days(d05=2500), EARLIER, 2.0) != []


def test_volume_check_needs_three_earlier_days_and_skips_empty_ones():
    two = {date(2026, 1, 1): 1000, date(2026, 1, 2): 0, date(2026, 1, 3): 1000}
    assert volume_warnings(_days(d04=100_000), two, 5.0) == []
    assert volume_warnings(_days(d05=0), EARLIER, 5.0) == [
        "no events for 2026-01-05: no raw event rows were delivered"
    ]
    # a backfill's own earlier days count too: day 7 is compared with days 3-6
    assert volume_warnings(_days(d05=1000, d06=1000, d07=6000), EARLIER, 5.0) == [
        "volume spike on 2026-01-07: 6,000 raw rows, over 5x the median of 1,000 of the "
        "previous 6 delivery days"
    ]


@pytest.mark.slow
def test_delivered_volumes_are_the_rows_each_earlier_day_delivered(world):
    history = RunHistory(Settings(data_dir=world.base).layout.run_history_path)
    raw = Settings(data_dir=world.base).layout
    expected = {
        START + timedelta(days=i): pq.read_metadata(
            raw.raw_events_day_dir(START + timedelta(days=i)) / RAW_FILE
        ).num_rows
        for i in range(DAYS - 1)
    }
    # days 1-3 come from one backfill run's check, day 4 from its own run
    assert delivered_volumes(history, DAY) == expected
    assert delivered_volumes(history, PREVIOUS) == {
        d: n for d, n in expected.items() if d < PREVIOUS
    }
