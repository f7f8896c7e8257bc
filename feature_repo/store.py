"""What the pipeline does with the feature repo: export, apply, materialize, read.

The definitions live beside this file, built for a data directory (`repo.feature_repo`); this
module runs them against the paths the settings name, so the same repo serves a laptop, a
test's temporary folder and a production box.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import duckdb
import yaml
from feast import FeatureStore, RepoConfig

from feature_repo.repo import FeatureRepo, feature_repo, snapshot_view_names
from slotrec.core import schema
from slotrec.core.redis_url import parse_redis_url
from slotrec.core.settings import Settings

log = logging.getLogger(__name__)


def end_of_day(day: date) -> datetime:
    """The instant a daily snapshot describes: midnight UTC after `day`."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def online_store_config(settings: Settings) -> dict[str, Any] | None:
    """The `online_store` block replacing the yaml's SQLite one, or None to keep SQLite.

    Redis: `skip_dedup` because Feast's Redis store otherwise drops a write whose event time is
    not later than the stored one. SQLite overwrites unconditionally, and the live state relies
    on that: its writes are serialised by the player locks, and two updates in one clock tick
    (or a simulated clock, or a re-run of an older day's materialization) must still land.
    """
    if settings.online_store != "redis":
        return None
    address = parse_redis_url(settings.redis_url)
    return {
        "type": "redis",
        "connection_string": address.feast_connection_string(),
        "skip_dedup": True,
    }


def repo_config(settings: Settings) -> RepoConfig:
    """Build Feast's config from `feature_store.yaml`, with paths taken from the settings.

    The online store is the yaml's SQLite file unless `SLOTREC_ONLINE_STORE=redis`.
    """
    raw = (settings.feature_repo_dir / "feature_store.yaml").read_text()
    raw = raw.replace("${SLOTREC_FEAST_DIR}", str(settings.layout.feast_dir))
    document = yaml.safe_load(raw)
    online = online_store_config(settings)
    if online is not None:
        document["online_store"] = online
    config = RepoConfig(**document)
    config.repo_path = settings.feature_repo_dir
    return config


def feast_env(settings: Settings) -> dict[str, str]:
    """Environment variables that let the `feast` CLI use the same paths as slotrec."""
    return {
        "SLOTREC_FEAST_DIR": str(settings.layout.feast_dir),
        "SLOTREC_DATA_DIR": str(settings.layout.root),
    }


def open_store(settings: Settings) -> FeatureStore:
    """Open the feature store at the settings' data directory (creating its folder)."""
    settings.layout.feast_dir.mkdir(parents=True, exist_ok=True)
    return FeatureStore(repo_path=str(settings.feature_repo_dir), config=repo_config(settings))


def definitions(settings: Settings) -> FeatureRepo:
    """The repo's definitions for the settings' data directory."""
    return feature_repo(settings.layout)


def apply_definitions(store: FeatureStore, settings: Settings) -> None:
    """Register (or update) the repo's definitions; idempotent, like `feast apply`."""
    store.apply(definitions(settings).definitions())


def export_feature_tables(settings: Settings, warehouse: Path | None = None) -> dict[str, int]:
    """Copy the feature marts from the warehouse into the parquet files Feast reads.

    Each file is written beside its target and renamed into place, so a reader never sees a
    half-written file. Returns the row count of each exported table.
    """
    out_dir = settings.layout.feature_export_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    marts = definitions(settings).exported_marts()
    with duckdb.connect(str(warehouse or settings.layout.warehouse_path), read_only=True) as con:
        for table, key in marts.items():
            target = out_dir / f"{table}.parquet"
            tmp = target.with_suffix(".parquet.tmp")
            con.execute(
                f"copy (select * from {table} order by {schema.FEATURE_TIMESTAMP}, {key}) "
                f"to '{tmp}' (format parquet, compression zstd)"
            )
            os.replace(tmp, target)
            row = con.execute(f"select count(*) from {table}").fetchone()
            counts[table] = int(row[0]) if row else 0
    return counts


@dataclass(frozen=True)
class MaterializeResult:
    """What one materialization wrote to the online store."""

    end: datetime
    rows_by_view: dict[str, int]


def materialize(store: FeatureStore, settings: Settings, as_of: date) -> MaterializeResult:
    """Load the `as_of` snapshot of every entity into the online store.

    Incremental by construction: the window is the one day that ends at the snapshot, so a run
    reads one snapshot, not the history. Feast's own `materialize_incremental` starts from
    "now minus ttl" on a first run, which would skip a backfilled or replayed date; an explicit
    window (inclusive at both ends) also makes re-running a date overwrite the same rows.
    """
    end = end_of_day(as_of)
    repo = definitions(settings)
    # Only the snapshot views: the live-state views are fed by pushes, never from a batch source.
    store.materialize(
        start_date=end - timedelta(days=1), end_date=end, feature_views=snapshot_view_names(repo)
    )
    rows: dict[str, int] = {}
    with duckdb.connect() as con:
        for table in repo.exported_marts():
            path = settings.layout.feature_export_dir / f"{table}.parquet"
            row = con.execute(
                f"select count(*) from read_parquet('{path}') where {schema.FEATURE_TIMESTAMP} = ?",
                [end],
            ).fetchone()
            rows[table] = int(row[0]) if row else 0
    return MaterializeResult(end=end, rows_by_view=rows)


def online_features(
    store: FeatureStore, service: str, entity_rows: list[dict[str, str]]
) -> dict[str, list[Any]]:
    """Read one feature service from the online store for the given entity rows."""
    return store.get_online_features(
        features=store.get_feature_service(service), entity_rows=entity_rows
    ).to_dict()
