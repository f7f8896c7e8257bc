"""Train / validation / test splits of an interactions frame.

Two splits, both by time so that no model is scored on the past:

- `leave_last_out`: per user, the last interaction is test, the one before it validation (the
  NCF paper's protocol, with a validation item for early stopping).
- `temporal_split`: one global clock; train before a validation window, validate on the next
  days, test on the final day's plays (what a daily retrain actually faces).

Split frames use the canonical columns `user_idx`, `item_idx`, `timestamp`, `weight`.
`encode_ids` turns arbitrary ids (MovieLens ids, `user_id` strings) into consecutive indices;
slotrec's own `user_idx`/`slot_idx` are already consecutive and stable across days, so they are
passed through unchanged to keep a slot's embedding row meaning the same slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

USER: Final = "user_idx"
ITEM: Final = "item_idx"
TIME: Final = "timestamp"
WEIGHT: Final = "weight"
COLUMNS: Final = (USER, ITEM, TIME, WEIGHT)


@dataclass(frozen=True)
class Split:
    """Three interaction frames over one index space.

    Attributes:
        train: Interactions the models fit on.
        valid: Held-out interactions for early stopping and tuning.
        test: Held-out interactions for the final numbers.
        n_users: Size of the user index space (max index + 1 over all three frames).
        n_items: Size of the item index space.
    """

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    n_users: int
    n_items: int


@dataclass(frozen=True)
class IdMaps:
    """Index → original id, so results and embeddings can be read back in the source's ids."""

    user_ids: np.ndarray  # [n_users] original user id of each user_idx
    item_ids: np.ndarray  # [n_items] original item id of each item_idx


def encode_ids(
    df: pd.DataFrame,
    *,
    user_col: str,
    item_col: str,
    time_col: str = TIME,
    weight_col: str | None = None,
) -> tuple[pd.DataFrame, IdMaps]:
    """Map arbitrary user/item ids to consecutive indices and rename to the canonical columns.

    Args:
        df: Interactions with one row per event or per (user, item).
        user_col: Column with user ids.
        item_col: Column with item ids.
        time_col: Column with the interaction time (numeric or datetime).
        weight_col: Optional column with a per-interaction weight; weight 1 when absent.

    Returns:
        The canonical frame (sorted ids map to increasing indices) and the index → id maps.
    """
    user_codes, user_ids = pd.factorize(df[user_col], sort=True)
    item_codes, item_ids = pd.factorize(df[item_col], sort=True)
    weight = df[weight_col].to_numpy(np.float32) if weight_col else np.ones(len(df), np.float32)
    out = pd.DataFrame(
        {
            USER: user_codes.astype(np.int64),
            ITEM: item_codes.astype(np.int64),
            TIME: df[time_col].to_numpy(),
            WEIGHT: weight,
        }
    )
    return out, IdMaps(np.asarray(user_ids), np.asarray(item_ids))


def _canonical(
    df: pd.DataFrame, user_col: str, item_col: str, time_col: str, weight_col: str | None
) -> pd.DataFrame:
    weight = (
        df[weight_col].to_numpy(np.float32)
        if weight_col and weight_col in df
        else np.ones(len(df), np.float32)
    )
    out = pd.DataFrame(
        {
            USER: df[user_col].to_numpy(np.int64),
            ITEM: df[item_col].to_numpy(np.int64),
            TIME: df[time_col].to_numpy(),
            WEIGHT: weight,
        }
    )
    # Ties in time keep the input (delivery) order: a stable sort on time alone. Breaking them by
    # item index instead would bias the held-out items (MovieLens ids follow release order, so
    # "largest id last" holds out older-or-newer films systematically; on ML-100K it moves
    # EASE's sampled HR@10 from 0.65 to 0.59).
    out = out.sort_values([USER, TIME], kind="stable")
    # A repeated (user, item) pair would put the same item on both sides of a split; keep its
    # latest row.
    return out.drop_duplicates([USER, ITEM], keep="last").reset_index(drop=True)


def _index_sizes(df: pd.DataFrame, n_users: int | None, n_items: int | None) -> tuple[int, int]:
    users = int(df[USER].max()) + 1 if len(df) else 0
    items = int(df[ITEM].max()) + 1 if len(df) else 0
    return max(users, n_users or 0), max(items, n_items or 0)


def leave_last_out(
    df: pd.DataFrame,
    *,
    user_col: str = USER,
    item_col: str = ITEM,
    time_col: str = TIME,
    weight_col: str | None = WEIGHT,
    n_users: int | None = None,
    n_items: int | None = None,
    min_interactions: int = 3,
) -> Split:
    """Per user, hold out the latest interaction for test and the one before it for validation.

    Ties in time keep the input order (the order events were delivered), so the split is
    deterministic for a given file. Users with fewer than
    `min_interactions` interactions keep everything in train (nothing is left to learn them from
    otherwise).

    Args:
        df: Interactions with consecutive integer user and item indices.
        user_col: User index column.
        item_col: Item index column.
        time_col: Time column (numeric or datetime).
        weight_col: Weight column; weight 1 where it is missing.
        n_users: Size of the user index space when it is larger than the data shows.
        n_items: Size of the item index space when it is larger than the data shows.
        min_interactions: Users with fewer interactions are not held out.

    Returns:
        The split, in canonical columns.
    """
    data = _canonical(df, user_col, item_col, time_col, weight_col)
    # position from the end within each user's time-ordered history: 0 = latest
    from_end = data.groupby(USER, sort=False).cumcount(ascending=False).to_numpy()
    size = data.groupby(USER, sort=False)[ITEM].transform("size").to_numpy()
    eligible = size >= min_interactions
    test_mask = eligible & (from_end == 0)
    valid_mask = eligible & (from_end == 1)
    train_mask = ~(test_mask | valid_mask)
    users, items = _index_sizes(data, n_users, n_items)
    return Split(
        train=data[train_mask].reset_index(drop=True),
        valid=data[valid_mask].reset_index(drop=True),
        test=data[test_mask].reset_index(drop=True),
        n_users=users,
        n_items=items,
    )


def _days(time: pd.Series, days: float) -> pd.Timedelta | float:
    # datetime columns step in Timedeltas; numeric ones are unix seconds
    if pd.api.types.is_datetime64_any_dtype(time):
        return pd.Timedelta(days=days)
    return days * 86_400.0


def temporal_split(
    df: pd.DataFrame,
    *,
    valid_days: float = 7.0,
    test_days: float = 1.0,
    user_col: str = USER,
    item_col: str = ITEM,
    time_col: str = TIME,
    weight_col: str | None = WEIGHT,
    n_users: int | None = None,
    n_items: int | None = None,
    drop_unknown: bool = True,
) -> Split:
    """Split on one global clock: train, then `valid_days`, then the final `test_days`.

    The test window ends at the latest timestamp. Validation and test keep only pairs that are
    new relative to everything before them (a replay of a slot already in train is not a
    recommendation the model could have made), and with `drop_unknown` only users and items
    that train has seen, since collaborative filtering cannot score the others (cold start is
    handled elsewhere).

    Args:
        df: Interactions with consecutive integer user and item indices.
        valid_days: Length of the validation window in days.
        test_days: Length of the test window in days (1 = the final day's plays).
        user_col: User index column.
        item_col: Item index column.
        time_col: Time column (datetime, or numeric unix seconds).
        weight_col: Weight column; weight 1 where it is missing.
        n_users: Size of the user index space when it is larger than the data shows.
        n_items: Size of the item index space when it is larger than the data shows.
        drop_unknown: Drop held-out rows whose user or item never appears in train.

    Returns:
        The split, in canonical columns.
    """
    raw = pd.DataFrame(
        {
            USER: df[user_col].to_numpy(np.int64),
            ITEM: df[item_col].to_numpy(np.int64),
            TIME: df[time_col].to_numpy(),
            WEIGHT: df[weight_col].to_numpy(np.float32)
            if weight_col and weight_col in df
            else np.ones(len(df), np.float32),
        }
    )
    end = raw[TIME].max()
    test_start = end - _days(raw[TIME], test_days)
    valid_start = test_start - _days(raw[TIME], valid_days)
    # Windows are half-open on the left of the test: a play at exactly test_start is a test play.
    windows = [
        raw[raw[TIME] < valid_start],
        raw[(raw[TIME] >= valid_start) & (raw[TIME] < test_start)],
        raw[raw[TIME] >= test_start],
    ]
    train, *held_out = [_canonical(w, USER, ITEM, TIME, WEIGHT) for w in windows]
    seen = train
    kept = []
    for held in held_out:
        held = _anti_join(held, seen)
        if drop_unknown:
            held = held[held[USER].isin(train[USER]) & held[ITEM].isin(train[ITEM])]
        seen = pd.concat([seen, held])
        kept.append(held.reset_index(drop=True))
    users, items = _index_sizes(raw, n_users, n_items)
    return Split(train, kept[0], kept[1], users, items)


def _anti_join(held: pd.DataFrame, seen: pd.DataFrame) -> pd.DataFrame:
    """Rows of `held` whose (user, item) pair is not in `seen`."""
    width = (
        int(np.max(np.concatenate([held[ITEM].to_numpy(), seen[ITEM].to_numpy()]), initial=0)) + 1
    )
    seen_keys = seen[USER].to_numpy() * width + seen[ITEM].to_numpy()
    held_keys = held[USER].to_numpy() * width + held[ITEM].to_numpy()
    return held[~np.isin(held_keys, seen_keys)]


def time_order_key(times: pd.Series) -> np.ndarray:
    """Timestamps (numbers, datetimes, timezone-aware or not) as int64/float64 that sort alike."""
    if pd.api.types.is_numeric_dtype(times):
        return times.to_numpy(np.float64)
    stamps = pd.to_datetime(times, utc=True)
    return stamps.dt.tz_localize(None).to_numpy("datetime64[ns]").astype(np.int64)
