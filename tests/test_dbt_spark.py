"""The dbt project on Apache Spark builds the same warehouse as on DuckDB.

A tiny dirty simulated world (200 players x 30 slots x 3 days, 3% rejectable rows, late rows,
plus one extra delivery file without the optional request_id column) is built twice the way the
daily pipeline builds it (a backfill of the first two days, then a daily run of the third):
once on DuckDB (the default target) and once on a local Spark (`SLOTREC_DBT_TARGET=spark`,
dbt-spark's session method). Every table the two builds write is then compared row for row
after sorting: same columns, same rows, floats within 1e-9 (relative), timestamps in UTC.

The dbt unit tests run on Spark as well. Slow (three dbt runs on Spark, each starting a JVM:
3-5 minutes on 2 busy cores), so marked; CI runs it. It needs Java 17 on the machine (pyspark
comes with the `dev` extra) and is skipped, saying so, where there is none.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from slotrec.core.settings import Settings
from slotrec.simulator import SimulationConfig, simulate_world
from slotrec.transform import TransformResult, build, dbt_run_env, run_dbt, spark_dir

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("java") is None and not os.environ.get("JAVA_HOME"),
        reason="dbt on Spark needs Java 17 (apt-get install openjdk-17-jre-headless)",
    ),
]

START = date(2026, 3, 1)
DAYS = 3
LAST = START + timedelta(days=DAYS - 1)

# Every table both builds write, with the columns that identify a row (the sort order).
TABLES = {
    "int_events_checked": ["source_file", "source_row_number"],
    "int_play_sessions": ["user_id", "session_id", "delivered_on"],
    "int_sessions_rolled_to_user_slot_days": ["user_id", "slot_id", "played_on", "delivered_on"],
    "user_index": ["user_id"],
    "slot_index": ["slot_id"],
    "users": ["user_id"],
    "slots": ["slot_id"],
    "interactions": ["user_id", "slot_id"],
    "user_features": ["user_id", "snapshot_on"],
    "slot_features": ["slot_id", "snapshot_on"],
    "player_risk": ["user_id", "snapshot_on"],
    "quarantined_events": ["source_file", "source_row_number"],
    "daily_ingest_counts": ["delivered_on", "outcome"],
    "delivery_checks": ["delivered_on"],
    "user_slot_days": ["user_id", "slot_id", "played_on", "delivered_on"],
    "recommendation_events": ["event_id", "delivered_on"],
}
# Tables that cannot (yet) be made equal on Spark, with the reason. Empty: every table is ported.
NOT_EQUAL_ON_SPARK: dict[str, str] = {}


def _add_file_without_request_id(settings: Settings, day: date) -> int:
    """A second delivery file on `day` lacking the optional request_id column (new event ids)."""
    folder = settings.layout.raw_events_day_dir(day)
    delivered = pq.read_table(next(folder.glob("*.parquet")))
    extra = delivered.slice(0, 40).drop_columns(["request_id"])
    ids = pc.binary_join_element_wise(
        pa.array(["extra"] * extra.num_rows), extra.column("event_id").cast(pa.string()), "-"
    )
    extra = extra.set_column(extra.schema.get_field_index("event_id"), "event_id", ids)
    pq.write_table(extra, folder / "part-extra.parquet")
    return extra.num_rows


def _add_served_impressions(settings: Settings, day: date) -> int:
    """A file of served lists on `day`, as the service writes them: 10 lists of 3 impressions.

    The simulator serves nothing, so without it `recommendation_events` would be empty on both
    engines and their comparison would prove nothing. Players, slots and times are taken from
    the day's delivery (so most rows are clean); one list in two carries guardrails.
    """
    delivered = pq.read_table(next(settings.layout.raw_events_day_dir(day).glob("*.parquet")))
    known = delivered.select(["user_id", "slot_id", "occurred_at"]).to_pandas().dropna().head(30)
    rows = []
    for n, played in enumerate(known.itertuples(index=False)):
        request, position = divmod(n, 3)
        rows.append(
            {
                "event_id": f"req-spark-{request}-{position}",
                "user_id": played.user_id,
                "slot_id": played.slot_id,
                "session_id": None,
                "event_type": "impression",
                "occurred_at": played.occurred_at,
                "duration_seconds": 0.0,
                "bet_amount": None,
                "win_amount": None,
                "request_id": f"req-spark-{request}",
                "experiment": "recent-weight-v1",
                "variant": ("control", "recent-heavy")[request % 2],
                "list_position": position + 1,
                "guardrails": "no_exploration" if request % 2 else None,
            }
        )
    # the delivery's own column types, so no column is written as parquet's null type
    types = {field.name: field.type for field in delivered.schema}
    strings = {"event_id", "event_type", "request_id", "experiment", "variant", "guardrails"}
    served = pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [
                (name, pa.string() if name in strings else types.get(name, pa.int64()))
                for name in rows[0]
            ]
        ),
    )
    pq.write_table(served, settings.layout.raw_events_day_dir(day) / "served-spark.parquet")
    return served.num_rows


def _daily_builds(settings: Settings) -> list[TransformResult]:
    """A backfill of all days but the last, then the last day's daily run (as run_daily does)."""
    return [build(settings, LAST - timedelta(days=1), START), build(settings, LAST)]


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """The same raw world built on DuckDB and on Spark: (duckdb results, spark results, root)."""
    root = tmp_path_factory.mktemp("spark_world")
    duck = Settings(data_dir=root)
    config = SimulationConfig(
        seed=11, n_players=200, n_slots=30, days=DAYS, start_date=START, dirt_rate=0.03
    )
    simulate_world(config, duck.layout)
    assert _add_file_without_request_id(duck, LAST) == 40
    assert _add_served_impressions(duck, LAST) == 30
    on_duckdb = _daily_builds(duck)
    on_spark = _daily_builds(duck.model_copy(update={"dbt_target": "spark"}))
    return on_duckdb, on_spark, root


def _duckdb_table(root: Path, table: str) -> pd.DataFrame:
    path = Settings(data_dir=root).layout.warehouse_path
    with duckdb.connect(str(path), read_only=True) as con:
        return con.sql(f"select * from main.{table}").df()


# The marts dbt builds as views (over an intermediate, so they hold no files of their own): Spark
# is asked for their rows through its own metastore.
SPARK_VIEWS = {"user_slot_days", "recommendation_events"}

# Run in a child process: the embedded Derby metastore admits one JVM at a time, and a JVM
# started inside pytest would keep it locked against the later dbt runs on Spark.
_READ_VIEW = """
import sys
from pyspark.sql import SparkSession
spark_root, view, out = sys.argv[1:]
session = (
    SparkSession.builder.master("local[1]")
    .config("spark.ui.enabled", "false")
    .config("spark.sql.session.timeZone", "UTC")
    .config("spark.driver.extraJavaOptions",
            f"-Duser.timezone=UTC -Dderby.system.home={spark_root}")
    .config("spark.sql.warehouse.dir", f"{spark_root}/tables")
    .config("spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={spark_root}/metastore_db;create=true")
    .config("spark.local.dir", f"{spark_root}/scratch")
    .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    .enableHiveSupport()
    .getOrCreate()
)
session.table(f"slotrec.{view}").coalesce(1).write.mode("overwrite").parquet(out)
session.stop()
"""


def _spark_view(root: Path, view: str) -> pd.DataFrame:
    """The rows of a Spark view, as Spark itself answers a select on it."""
    out = root / "spark_views" / view
    proc = subprocess.run(
        [sys.executable, "-c", _READ_VIEW, str(spark_dir(Settings(data_dir=root))), view, str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"Spark could not read the view {view}:\n{proc.stderr[-3000:]}"
    with duckdb.connect() as con:
        return con.sql(f"select * from read_parquet('{out}/part-*')").df()


def _spark_table(root: Path, table: str) -> pd.DataFrame:
    """The rows of a Spark table, read from its parquet files (partition folders included)."""
    if table in SPARK_VIEWS:
        return _spark_view(root, table)
    folder = spark_dir(Settings(data_dir=root)) / "tables" / "slotrec.db" / table
    assert folder.is_dir(), f"Spark wrote no table {table}"
    with duckdb.connect() as con:
        return con.sql(
            f"select * from read_parquet('{folder}/**/part-*', hive_partitioning = true)"
        ).df()


def _normalised(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """Engine-neutral values: UTC-naive timestamps, dates as dates, numbers as float64."""
    out = pd.DataFrame(index=frame.index)
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            column = column.dt.tz_convert("UTC").dt.tz_localize(None)
        if pd.api.types.is_datetime64_any_dtype(column):
            column = column.astype("datetime64[us]")
        elif pd.api.types.is_bool_dtype(column):
            column = column.astype(object)
        elif pd.api.types.is_numeric_dtype(column):
            column = column.astype("float64")
        elif column.map(lambda v: hasattr(v, "as_tuple")).any():
            column = column.astype("float64")  # decimals
        out[name] = column
    # dates come back as datetime64 from one engine and date objects from the other
    for name in out.columns:
        if out[name].dtype == object and out[name].map(lambda v: isinstance(v, date)).any():
            out[name] = pd.to_datetime(out[name]).astype("datetime64[us]")
    return out.sort_values(key, kind="stable").reset_index(drop=True)


def test_spark_build_runs_every_model_and_data_test(builds):
    on_duckdb, on_spark, _ = builds
    for duck_run, spark_run in zip(on_duckdb, on_spark, strict=True):
        assert spark_run.models == duck_run.models == 20
        assert spark_run.tests == duck_run.tests > 90


@pytest.mark.parametrize("table", sorted(TABLES))
def test_spark_table_equals_duckdb_table(builds, table):
    if table in NOT_EQUAL_ON_SPARK:
        pytest.xfail(NOT_EQUAL_ON_SPARK[table])
    _, _, root = builds
    key = TABLES[table]
    expected = _normalised(_duckdb_table(root, table), key)
    actual = _normalised(_spark_table(root, table), key)
    assert sorted(actual.columns) == sorted(expected.columns)
    actual = actual[list(expected.columns)]
    assert len(expected) > 0, f"{table} is empty: the comparison would prove nothing"
    assert len(actual) == len(expected), table
    for name in expected.columns:
        want, got = expected[name], actual[name]
        if want.dtype == "float64":
            close = np.isclose(got, want, rtol=1e-9, atol=1e-9, equal_nan=True)
            assert close.all(), f"{table}.{name}: {int((~close).sum())} rows differ"
        else:
            same = (got == want) | (got.isna() & want.isna())
            assert same.all(), (
                f"{table}.{name}: {int((~same).sum())} rows differ, first "
                f"{got[~same].iloc[0]!r} != {want[~same].iloc[0]!r}"
            )


def test_dbt_unit_tests_pass_on_spark(builds):
    """The SQL-logic cases (late deliveries, ties, exact thresholds) hold on Spark too."""
    _, _, root = builds
    settings = Settings(data_dir=root, dbt_target="spark")
    proc = run_dbt(
        settings,
        ["test", "--select", "test_type:unit"],
        settings.layout.warehouse_path,
        extra_env=dbt_run_env(settings, LAST, None),
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    results = json.loads((root / "dbt" / "target" / "run_results.json").read_text())["results"]
    assert len(results) == 9
    assert {r["status"] for r in results} == {"pass"}


def test_spark_read_the_file_without_request_id(builds):
    _, _, root = builds
    checked = _spark_table(root, "int_events_checked")
    extra = checked[checked["source_file"].str.endswith("part-extra.parquet")]
    assert len(extra) == 40
    assert extra["request_id"].isna().all()
