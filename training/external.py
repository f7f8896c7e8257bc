"""`slotrec train --interactions FILE`: the same trainer and evaluation on anyone's log.

An operator can try slotrec on their own export before wiring up dbt: a CSV or parquet file
with a user column, an item column, a timestamp and optionally a weight. The run writes the
same evaluation (NeuMF next to popularity, item-kNN and EASE, full and sampled ranking) as the
daily retrain.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from training.pipeline import train_and_evaluate
from training.splits import TIME, WEIGHT, encode_ids, leave_last_out, temporal_split
from training.trainer import EpochStats, TrainConfig

log = logging.getLogger(__name__)

SplitKind = Literal["leave_last_out", "temporal"]


class InteractionsFileError(Exception):
    """The interactions file cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class InteractionColumns:
    """Which columns of the file hold what."""

    user: str = "user_id"
    item: str = "item_id"
    timestamp: str = "timestamp"
    weight: str | None = None


def read_interactions(path: Path, columns: InteractionColumns) -> pd.DataFrame:
    """Read a CSV or parquet interactions file and check its columns and values.

    Raises:
        InteractionsFileError: unreadable file, unsupported format, missing column, empty
            file, or unusable timestamps / weights.
    """
    if not path.is_file():
        raise InteractionsFileError(f"{path}: no such file")
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif path.suffix in (".csv", ".tsv", ".txt"):
            frame = pd.read_csv(path, sep=None, engine="python")
        else:
            raise InteractionsFileError(f"{path}: unsupported format (use .csv or .parquet)")
    except InteractionsFileError:
        raise
    except Exception as exc:  # pandas raises many kinds for a broken file
        raise InteractionsFileError(f"{path}: cannot read ({exc})") from exc
    wanted = [c for c in (columns.user, columns.item, columns.timestamp, columns.weight) if c]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise InteractionsFileError(
            f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(frame.columns)}"
        )
    frame = frame.dropna(subset=[columns.user, columns.item, columns.timestamp])
    if frame.empty:
        raise InteractionsFileError(f"{path}: no rows with user, item and timestamp")
    ts = frame[columns.timestamp]
    if not (pd.api.types.is_numeric_dtype(ts) or pd.api.types.is_datetime64_any_dtype(ts)):
        try:
            frame[columns.timestamp] = pd.to_datetime(ts, utc=True)
        except (ValueError, TypeError) as exc:
            raise InteractionsFileError(
                f"{path}: column {columns.timestamp} is neither numbers nor dates"
            ) from exc
    if columns.weight:
        weight = pd.to_numeric(frame[columns.weight], errors="coerce")
        if weight.isna().any() or (weight < 0).any():
            raise InteractionsFileError(
                f"{path}: column {columns.weight} must hold non-negative numbers"
            )
        frame[columns.weight] = weight
    return frame


def train_on_file(
    path: Path,
    columns: InteractionColumns,
    config: TrainConfig,
    split: SplitKind = "leave_last_out",
    progress: Callable[[EpochStats], None] | None = None,
) -> dict[str, Any]:
    """Train NeuMF and the baselines on a file's interactions and evaluate them all."""
    frame = read_interactions(path, columns)
    canonical, _ = encode_ids(
        frame,
        user_col=columns.user,
        item_col=columns.item,
        time_col=columns.timestamp,
        weight_col=columns.weight,
    )
    if columns.weight:
        # scale weights to [0, 1] per user, like slotrec's graded score
        user_max = canonical.groupby("user_idx")[WEIGHT].transform("max").to_numpy()
        canonical[WEIGHT] = canonical[WEIGHT].to_numpy() / np.maximum(user_max, 1e-12)
    if split == "leave_last_out":
        parts = leave_last_out(canonical.sort_values(TIME, kind="stable"))
    else:
        parts = temporal_split(canonical)
    if parts.valid.empty or parts.test.empty:
        raise InteractionsFileError(f"{path}: too little history to hold out validation and test")
    _, metrics = train_and_evaluate(parts, config, progress=progress)
    metrics["data"] = {
        "file": str(path),
        "split": split,
        "users": parts.n_users,
        "items": parts.n_items,
        "train": len(parts.train),
        "valid": len(parts.valid),
        "test": len(parts.test),
    }
    metrics["training"]["config"] = config.to_dict()
    return metrics
