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
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


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

    @property
    def restrictions_path(self) -> Path:
        """The operator's self-exclusion / cooling-off list (`slotrec restrictions load`)."""
        return self.raw_dir / "restrictions" / "restrictions.csv"

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

    # shared by every service worker on the host (SQLite, WAL)
    @property
    def restrictions_registry_path(self) -> Path:
        return self.root / "serving" / "restrictions.sqlite"

    # new games registered through `slots`, their exposure counts, and reload requests
    @property
    def new_games_registry_path(self) -> Path:
        return self.root / "serving" / "new_games.sqlite"

    # per-run reports
    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def run_dir(self, as_of: date) -> Path:
        return self.runs_dir / as_of.isoformat()

    # operations: the run history, the monitoring reports and the Evidently workspace
    @property
    def run_history_path(self) -> Path:
        return self.root / "ops" / "runs.duckdb"

    def reports_dir(self, as_of: date) -> Path:
        return self.root / "reports" / as_of.isoformat()

    @property
    def monitoring_workspace_dir(self) -> Path:
        return self.root / "monitoring" / "workspace"


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
    dbt_target: Literal["duckdb", "spark"] = Field(
        default="duckdb",
        description="Where dbt builds the warehouse: `duckdb` (the embedded file) or `spark` (the "
        "same models on a local Spark through dbt-spark's session method, tables under "
        "<data_dir>/warehouse/spark; needs `pip install -e .[spark]` and Java 17).",
    )
    interaction_window_days: int = Field(
        default=90, ge=1, description="How far back the interactions mart looks."
    )
    volume_spike_factor: float = Field(
        default=5.0,
        gt=1,
        description="The run report warns when a day delivers over this many times the median "
        "raw rows of the previous delivery days, or under the median divided by it.",
    )
    max_event_amount: float = Field(
        default=1_000_000.0,
        gt=0,
        description="The largest bet or win one event may carry, in the operator's currency "
        "unit: a raw row above it is quarantined (absurd_amount) and `events` refuses it (422). "
        "One 1e308 stake would turn a player's average bet into infinity.",
    )
    max_repeated_event_share: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="A delivery day in which more than this share of the play events repeat an "
        "earlier event exactly (same player, slot, type, time, duration and amounts) under new "
        "ids is an export delivered twice: the run stops and says so. Below it, the copies are "
        "quarantined (overlapping_play, overlapping_session) and the day goes on.",
    )
    train_budget_minutes: float = Field(
        default=15.0,
        gt=0,
        description="Time budget of NeuMF's training in the daily retrain; when it is spent "
        "training stops with the best validated checkpoint so far.",
    )
    # --- the Feast online store: embedded SQLite file, or a Redis shared by several hosts -----
    online_store: Literal["sqlite", "redis"] = Field(
        default="sqlite",
        description="Feast online store: `sqlite` (a file under the data dir, one host) or "
        "`redis` (at SLOTREC_REDIS_URL; service processes on several hosts share the live "
        "state, and per-player updates are locked in Redis).",
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="The Redis of the `redis` online store: redis://[[user]:password@]host:port/db "
        "(rediss:// for TLS).",
    )
    # --- the serving real-time layer (bentos/realtime) ---------------------------------------
    play_threshold_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="Time on one slot in one session after which the player gets a fresh "
        'next-slot suggestion ("played for a relevant time").',
    )
    live_state_window: int = Field(
        default=50,
        ge=1,
        le=1000,
        description="How many recently played slots the live state keeps per player.",
    )
    live_state_max_age_hours: float = Field(
        default=48.0,
        gt=0,
        description="Plays older than this leave the live state: by then a daily snapshot "
        "holds them (kept longer than one day so a late or missed run leaves no gap).",
    )
    raw_sink_flush_seconds: float = Field(
        default=2.0,
        gt=0,
        description="How long served events may wait in memory before they are appended to "
        "the raw event files (one part file per flush).",
    )
    # --- the HTTP service (bentos/) -----------------------------------------------------------
    admin_token: SecretStr | None = Field(
        default=None,
        description="Token the admin endpoints (`slots`, `reload`) require in the "
        "`Authorization: Bearer …` header; unset disables them.",
    )
    max_request_bytes: int = Field(
        default=256 * 1024, ge=1024, description="Larger request bodies are refused (413)."
    )
    recent_weight: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="Weight of the folded-in recent-play vector against the model score.",
    )
    exploration_share: float = Field(
        default=0.1, ge=0, le=0.5, description="At most this share of a list is exploration."
    )
    exploration_user_share: float = Field(
        default=0.2, ge=0, le=1, description="Share of players in the exploration segment."
    )
    new_game_exposure_cap: int = Field(
        default=500, ge=1, description="Exploration impressions a new game gets before review."
    )
    new_game_min_play_rate: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="Plays per exploration impression a new game needs to graduate.",
    )
    diversity_max_share: float = Field(
        default=0.4,
        gt=0,
        le=1,
        description="At most this share of a list may come from one theme or one provider.",
    )
    experiments_path: Path | None = Field(
        default=None,
        description="JSON file declaring A/B experiments; default: the built-in experiment.",
    )
    serve_workers: int = Field(
        default=1,
        ge=1,
        description="Worker processes of a plain `bentoml serve` (read when the service module "
        "is imported, as BentoML's decorator takes it); `slotrec serve` sets one per core.",
    )
    access_log: bool = Field(
        default=True,
        description="BentoML's per-request access log line (read when the service starts). Off "
        "saves about 9% of the no-op's throughput; `/metrics` still counts every request.",
    )
    clock_file: Path | None = Field(
        default=None,
        description="Simulations only: a JSON offset from UTC the service's clock follows (the "
        "closed-loop demo moves it); unset, the service runs on the wall clock.",
    )
    serving_poll_seconds: float = Field(
        default=1.0,
        ge=0,
        description="How often each worker looks for new games and reload requests.",
    )

    # --- responsible play: at-risk signals (dbt player_risk) and serving guardrails -----------
    # The rule thresholds reach dbt as SLOTREC_<NAME> run settings (slotrec/transform.py);
    # dbt_project/macros/risk_rules.sql holds the same defaults.
    risk_long_session_seconds: int = Field(
        default=7200, ge=60, description="A session this long or longer is a long session."
    )
    risk_long_session_min_count: int = Field(
        default=2, ge=1, description="Long sessions in 7 days that raise the long_sessions signal."
    )
    risk_night_end_hour: int = Field(
        default=6, ge=1, le=24, description="Sessions starting before this UTC hour are late-night."
    )
    risk_night_min_sessions: int = Field(
        default=3, ge=1, description="Late-night sessions in 7 days for the late_night signal..."
    )
    risk_night_min_share: float = Field(
        default=0.25, ge=0, le=1, description="... that are also at least this share of them."
    )
    risk_chase_min_losses: int = Field(
        default=5, ge=1, description="Losing intervals in 7 days before loss chasing is judged."
    )
    risk_chase_min_share: float = Field(
        default=0.4,
        ge=0,
        le=1,
        description="Share of losing intervals followed by a raised stake (more than 1.2 times "
        "the losing one) that raises the loss_chasing signal.",
    )
    risk_escalation_min_seconds: int = Field(
        default=18000, ge=0, description="Play in the last 3 days before escalation is judged."
    )
    risk_escalation_min_growth: float = Field(
        default=2.0,
        gt=1,
        description="Daily play of the last 3 days over that of the 7 days before that raises "
        "the escalating signal.",
    )
    risk_high_min_signals: int = Field(
        default=2,
        ge=1,
        le=4,
        description="Signals that make a player's risk_level 'high'; one makes 'elevated'.",
    )
    risk_guarded_levels: list[str] = Field(
        default=["elevated", "high"],
        description="Risk levels whose players get the at-risk guardrails: no exploration, no "
        "new-game items, volatility rules below, and a reality check instead of a next-slot "
        "suggestion at the play-time threshold.",
    )
    risk_excluded_volatility: dict[str, list[str]] = Field(
        default={"elevated": ["very_high"], "high": ["very_high", "high"]},
        description="Per risk level, slot volatilities left out of the player's lists "
        "(guardrail volatility_excluded).",
    )
    risk_demoted_volatility: dict[str, list[str]] = Field(
        default={"elevated": ["high"], "high": []},
        description="Per risk level, slot volatilities ranked after every other candidate "
        "(guardrail volatility_demoted).",
    )
    risk_reality_check_message: str = Field(
        default="You have been playing for {minutes} minutes. Time for a break? You can set "
        "time and deposit limits in your account.",
        description="Message of the reality check an at-risk player gets at the play-time "
        "threshold; {minutes} is replaced by the minutes played.",
    )

    # --- the daily run and monitoring (slotrec/daily.py, monitoring/) --------------------------
    service_url: str | None = Field(
        default=None,
        description="Base URL of the running service (e.g. http://127.0.0.1:3000); when set, a "
        "daily run that promotes a bundle asks it to reload. Unset: no call.",
    )
    drift_reference_days: int = Field(
        default=7, ge=1, description="Data drift compares the run day with this many days before."
    )
    quality_history_days: int = Field(
        default=7, ge=1, description="Trailing days whose median HR@10 / NDCG@10 is the baseline."
    )
    quality_alert_margin: float = Field(
        default=0.15,
        gt=0,
        lt=1,
        description="Alert when today's HR@10 or NDCG@10 is below the trailing median by more "
        "than this share of the median (0.15: below 85% of the median).",
    )
    quality_min_history: int = Field(
        default=3, ge=1, description="Days of history needed before the quality alert can fire."
    )

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str) -> str:
        from slotrec.core.redis_url import parse_redis_url

        parse_redis_url(value)  # raises ValueError naming the problem
        return value

    @cached_property
    def layout(self) -> DataLayout:
        return DataLayout(self.data_dir.resolve())


def get_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides taking precedence."""
    return Settings(**overrides)  # type: ignore[arg-type]
