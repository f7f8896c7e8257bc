"""A tiny, fully known world for the service tests: marts, a trained bundle, a promotion.

Built once per test session (about ten seconds) through the same code the daily retrain uses
(`train_model`, `SlotIndex`, `MetadataEmbedder`, `Bundle.save`, `PromotionRegistry`), but on
hand-made plays instead of a simulated week through dbt, so the tests know the right answers:
every player loves one theme and has played half of its slots (a random half), so the other
half should top their list.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from slotrec.core import schema
from slotrec.core.settings import Settings
from training.bundle import Bundle
from training.index import SlotIndex
from training.metadata_model import MetadataEmbedder
from training.model_store import model_store
from training.promotion import PromotionRegistry
from training.splits import ITEM, TIME, USER, WEIGHT
from training.trainer import TrainConfig, train_model

N_SLOTS = 96  # 8 per theme
N_USERS = 240
PLAYED_PER_USER = 4
PROVIDERS = ("Alpha", "Beta", "Gamma", "Delta")
INACTIVE_SLOT = "s095"
MALTA_ONLY_SLOT = "s094"  # licensed in MT only; every test player is in GB or SE


@dataclass(frozen=True)
class World:
    settings: Settings
    slots: pd.DataFrame
    plays: pd.DataFrame  # user_id, slot_id, play_seconds
    favourite_theme: dict[str, str]
    tag: str

    def theme_of(self, slot_id: str) -> str:
        return str(self.slots.set_index("slot_id").loc[slot_id, "theme"])


def slot_frame() -> pd.DataFrame:
    rows = []
    for i in range(N_SLOTS):
        rows.append(
            {
                "slot_id": f"s{i:03d}",
                "name": f"Slot {i}",
                "provider": PROVIDERS[(i // 12) % len(PROVIDERS)],
                "theme": schema.THEMES[i % len(schema.THEMES)],
                "volatility": schema.VOLATILITY_LEVELS[(i // 3) % 4],
                "rtp": 0.94 + 0.0003 * i,
                "max_win_multiplier": 1000.0 + 100 * i,
                "has_bonus_buy": i % 3 == 0,
                "is_active": f"s{i:03d}" != INACTIVE_SLOT,
                "jurisdictions": "MT" if f"s{i:03d}" == MALTA_ONLY_SLOT else "GB,SE,MT,DE",
            }
        )
    return pd.DataFrame(rows)


def _plays(slots: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, str]]:
    by_theme = slots.groupby("theme")["slot_id"].apply(list).to_dict()
    rows, favourite = [], {}
    for u in range(N_USERS):
        user_id = f"u{u:04d}"
        theme = schema.THEMES[u % len(schema.THEMES)]
        favourite[user_id] = theme
        for slot_id in rng.choice(by_theme[theme], PLAYED_PER_USER, replace=False):
            rows.append((user_id, slot_id, float(rng.integers(600, 3600))))
    return pd.DataFrame(rows, columns=["user_id", "slot_id", "play_seconds"]), favourite


def _write_warehouse(settings: Settings, slots: pd.DataFrame, plays: pd.DataFrame) -> None:
    path = settings.layout.warehouse_path
    path.parent.mkdir(parents=True, exist_ok=True)
    users = pd.DataFrame(
        {
            "user_id": [f"u{u:04d}" for u in range(N_USERS)],
            "country": ["GB" if u % 3 else "SE" for u in range(N_USERS)],
            "segment": ["casual" if u % 4 else "high_roller" for u in range(N_USERS)],
        }
    )
    interactions = plays.assign(last_played_at=datetime(2026, 1, 6, tzinfo=UTC))
    with duckdb.connect(str(path)) as con:
        for name, frame in (("slots", slots), ("users", users), ("interactions", interactions)):
            con.register("frame", frame)
            con.execute(f"create or replace table {name} as select * from frame")
            con.unregister("frame")


def train_bundle(slots: pd.DataFrame, plays: pd.DataFrame, seed: int = 0) -> Bundle:
    """Train NeuMF on the plays and assemble a bundle the way the daily retrain does."""
    user_ids = sorted(plays["user_id"].unique())
    slot_ids = slots["slot_id"].tolist()
    user_idx = {u: i for i, u in enumerate(user_ids)}
    slot_idx = {s: i for i, s in enumerate(slot_ids)}
    start = pd.Timestamp("2026-01-01", tz="UTC")
    train = pd.DataFrame(
        {
            USER: plays["user_id"].map(user_idx).to_numpy(),
            ITEM: plays["slot_id"].map(slot_idx).to_numpy(),
            WEIGHT: np.ones(len(plays), dtype=np.float32),
            TIME: [start + timedelta(minutes=i) for i in range(len(plays))],
        }
    )
    config = TrainConfig(epochs=40, patience=0, batch_size=256, seed=seed, num_threads=1)
    result = train_model("neumf", train, None, config, n_users=len(user_ids), n_items=len(slot_ids))
    vectors = result.model.item_embeddings().detach().numpy()  # [n_slots, gmf_dim]
    counts = plays.groupby("slot_id").size().sort_values(ascending=False, kind="stable")
    popular = [s for s in counts.index if s != INACTIVE_SLOT]
    metrics = {"validation": {"neumf": {"ndcg10": 0.5}, "popularity": {"ndcg10": 0.1}}}
    return Bundle(
        model_checkpoint=result.model.to_checkpoint(),
        index=SlotIndex.build(vectors, slot_ids),
        user_ids=user_ids,
        slot_ids=slot_ids,
        popularity={"global": popular, "by_segment": {"casual": popular}},
        metadata_model_checkpoint=MetadataEmbedder.fit(slots, vectors).to_checkpoint(),
        metrics=metrics,
        config=config.to_dict(),
        window={"as_of": "2026-01-06"},
    )


@functools.cache
def build_world() -> World:
    """The session's world under a fresh data directory, with its bundle promoted."""
    root = Path(tempfile.mkdtemp(prefix="slotrec-service-world-"))
    settings = Settings(data_dir=root)
    rng = np.random.default_rng(7)
    slots = slot_frame()
    plays, favourite = _plays(slots, rng)
    _write_warehouse(settings, slots, plays)
    bundle = train_bundle(slots, plays)
    tag = bundle.save(model_store(settings))
    PromotionRegistry(settings.layout.promoted_path).promote(tag)
    return World(settings, slots, plays, favourite, tag)


# The one example request every test level starts from (BentoML's testing guide).
EXAMPLE_REQUEST = {"user_id": "u0001", "k": 5, "context": {"slot_id": "s013", "minutes_played": 7}}
ADMIN_TOKEN = "test-admin-token"
THRESHOLD_SECONDS = 120.0


def serving_settings(root: Path, **overrides: object) -> Settings:
    """A fresh data directory holding the world's marts, bundles and promotion (no live state)."""
    world = build_world()
    source = world.settings.layout
    target = Settings(data_dir=root).layout
    target.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source.warehouse_path, target.warehouse_path)
    target.promoted_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source.promoted_path, target.promoted_path)
    shutil.copytree(source.bentoml_home / "models", target.bentoml_home / "models")
    values: dict[str, object] = {
        "data_dir": root,
        "admin_token": ADMIN_TOKEN,
        "play_threshold_seconds": THRESHOLD_SECONDS,
        "serving_poll_seconds": 0.0,
        "raw_sink_flush_seconds": 0.2,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def serving_env(settings: Settings) -> dict[str, str]:
    """The same settings as SLOTREC_* environment variables, for ASGI and served processes."""
    env = {
        "SLOTREC_DATA_DIR": str(settings.data_dir),
        "SLOTREC_PLAY_THRESHOLD_SECONDS": str(settings.play_threshold_seconds),
        "SLOTREC_SERVING_POLL_SECONDS": str(settings.serving_poll_seconds),
        "SLOTREC_RAW_SINK_FLUSH_SECONDS": str(settings.raw_sink_flush_seconds),
    }
    if settings.admin_token is not None:
        env["SLOTREC_ADMIN_TOKEN"] = settings.admin_token.get_secret_value()
    return env


def play_events(
    user_id: str, slot_id: str, seconds: float, session: str, start_offset: float = 0.0
) -> list[dict[str, object]]:
    """A session start and one heartbeat `seconds` later, as the lobby would send them."""
    started = datetime.now(UTC) - timedelta(seconds=seconds + 5 + start_offset)
    return [
        {
            "event_id": f"{session}-start",
            "user_id": user_id,
            "slot_id": slot_id,
            "session_id": session,
            "event_type": "session_start",
            "occurred_at": started.isoformat(),
        },
        {
            "event_id": f"{session}-hb",
            "user_id": user_id,
            "slot_id": slot_id,
            "session_id": session,
            "event_type": "heartbeat",
            "occurred_at": (started + timedelta(seconds=seconds)).isoformat(),
            "duration_seconds": seconds,
        },
    ]
