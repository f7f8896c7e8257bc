"""One typed settings object for the whole platform.

Defaults run the embedded setup (DuckDB, SQLite, local files) from the repository root; every
field can be overridden by an environment variable named `SLOTREC_<FIELD>` (for example
`SLOTREC_DATA_DIR=/srv/slotrec`). Nothing here touches the disk at import time: paths are derived,
and created only by the stage that writes them.
"""

from __future__ import annotations

from datetime import date
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class DataLayout:
    """Where each stage reads and writes under one data directory.

    Keeping every path in one place means a new engineer finds "where does X live" in one file,
    and tests point the whole platform at a temporary folder by changing a single setting.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    # raw inputs, as an operator's export jobs (or the simulator) deliver them
    @property
    def raw_dir(self) -> Path:
        return self.root / "raw"

    @property
    def raw_events_dir(self) -> Path:
        return self.raw_dir / "events"

    def raw_events_day_dir(self, day: date) -> Path:
        """The folder holding the events delivered on one UTC day."""
        return self.raw_events_dir / f"day={day.isoformat()}"

    @property
    def slot_catalogue_path(self) -> Path:
        return self.raw_dir / "catalogue" / "slots.parquet"

    @property
    def players_path(self) -> Path:
        return self.raw_dir / "players" / "players.parquet"

    @property
    def onboarding_path(self) -> Path:
        return self.raw_dir / "onboarding" / "onboarding.parquet"

    # the simulator's hidden ground truth: never read by the pipeline, only by evaluation
    @property
    def truth_dir(self) -> Path:
        return self.root / "truth"

    # the warehouse dbt builds, and what is exported from it for Feast
    @property
    def warehouse_path(self) -> Path:
        return self.root / "warehouse" / "slotrec.duckdb"

    @property
    def feature_export_dir(self) -> Path:
        return self.root / "features"

    @property
    def feast_dir(self) -> Path:
        return self.root / "feast"

    @property
    def feast_registry_path(self) -> Path:
        return self.feast_dir / "registry.db"

    @property
    def feast_online_path(self) -> Path:
        return self.feast_dir / "online.db"

    # trained bundles live in the BentoML model store; this names the one that serves
    @property
    def bentoml_home(self) -> Path:
        return self.root / "bentoml"

    @property
    def promoted_path(self) -> Path:
        return self.root / "models" / "promoted.json"

    # per-run reports
    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def run_dir(self, as_of: date) -> Path:
        return self.runs_dir / as_of.isoformat()


class Settings(BaseSettings):
    """Platform settings; environment variables `SLOTREC_*` override the defaults."""

    model_config = SettingsConfigDict(env_prefix="SLOTREC_", extra="ignore")

    data_dir: Path = Field(
        default=REPO_ROOT / "data", description="Root of every file slotrec writes."
    )
    dbt_project_dir: Path = Field(default=REPO_ROOT / "dbt_project")
    feature_repo_dir: Path = Field(default=REPO_ROOT / "feature_repo")
    dbt_threads: int = Field(default=2, ge=1, description="dbt worker threads (one per core here).")
    duckdb_memory_limit: str = Field(default="8GB", description="DuckDB memory cap for dbt runs.")
    interaction_window_days: int = Field(
        default=90, ge=1, description="How far back the interactions mart looks."
    )

    @cached_property
    def layout(self) -> DataLayout:
        return DataLayout(self.data_dir.resolve())


def get_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides taking precedence."""
    return Settings(**overrides)  # type: ignore[arg-type]
