"""Training data from slotrec's warehouse and feature store: the one door `training/` uses.

Plays come from the dbt marts (daily user × slot roll-ups, with the stable `user_idx` /
`slot_idx` of the append-only index marts, so a slot's embedding row keeps its meaning across
retrains). Point-in-time player features (segment) come from Feast's offline store through the
feature service the service reads online, so evaluation groups use what serving would have seen.

Labels are observed plays; the sample weight is the graded score the interactions mart defines
(per-user normalised log play time), recomputed on the training window alone so the held-out
days leak nothing into training.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from slotrec.core.settings import Settings
from training.splits import ITEM, TIME, USER, WEIGHT, Split, temporal_split

log = logging.getLogger(__name__)

PLAY_SECONDS = "play_seconds"


@dataclass
class SlotrecData:
    """A temporal split of slotrec plays plus what the bundle needs besides the model."""

    split: Split
    user_ids: list[str]  # position = user_idx
    slot_ids: list[str]  # position = slot_idx
    slots: pd.DataFrame  # released catalogue rows as of the run, with slot_idx
    users: pd.DataFrame  # registered players: user_id, user_idx, segment, first_played_at
    popularity: dict[str, Any]
    window: dict[str, Any]
    groups: dict[int, str] = field(default_factory=dict)  # test user_idx → evaluation group


def graded_scores(frame: pd.DataFrame, seconds_col: str = PLAY_SECONDS) -> np.ndarray:
    """Per-user normalised log play time in (0, 1]: the interactions mart's `normalized_score`."""
    log_seconds = np.log1p(frame[seconds_col].to_numpy(np.float64))
    user_max = frame.assign(_l=log_seconds).groupby(USER)["_l"].transform("max").to_numpy()
    return (log_seconds / np.maximum(user_max, 1e-12)).astype(np.float32)


def collapse_train(train_days: pd.DataFrame) -> pd.DataFrame:
    """One row per (user, slot) over the training window, weighted by its graded score."""
    pairs = (
        train_days.groupby([USER, ITEM], as_index=False)
        .agg(**{PLAY_SECONDS: (PLAY_SECONDS, "sum"), TIME: (TIME, "max")})
        .sort_values([USER, TIME], kind="stable")
    )
    pairs[WEIGHT] = graded_scores(pairs)
    return pairs.reset_index(drop=True)


def _read(settings: Settings, sql: str, params: list[Any]) -> pd.DataFrame:
    with duckdb.connect(str(settings.layout.warehouse_path), read_only=True) as con:
        return con.execute(sql, params).df()


# The marts training reads (`dbt_project/models/marts/_models.yml`; tests/test_dbt_project.py
# runs every reader's query on a built warehouse). Parameters: first day, last day, as_of.
DAILY_PLAYS_QUERY = """
    select ui.user_idx, si.slot_idx as item_idx, r.played_on,
           sum(r.play_seconds) as play_seconds, max(r.last_played_at) as timestamp
    from user_slot_days as r
    join user_index as ui on r.user_id = ui.user_id
    join slot_index as si on r.slot_id = si.slot_id
    where r.played_on between ? and ? and r.delivered_on <= ? and r.play_seconds > 0
    group by all
"""
POPULARITY_QUERY = """
    select r.slot_id, u.segment, count(distinct r.user_id) as players,
           sum(r.play_seconds) as play_seconds
    from user_slot_days as r
    join users as u on r.user_id = u.user_id
    join slots as s on r.slot_id = s.slot_id
    where r.played_on between ? and ? and r.delivered_on <= ? and s.is_active
    group by all
"""


def load_daily_plays(settings: Settings, as_of: date, window_days: int) -> pd.DataFrame:
    """User × slot × played day rows with play time, ending at `as_of`, with stable indices."""
    return _read(
        settings, DAILY_PLAYS_QUERY, [as_of - timedelta(days=window_days - 1), as_of, as_of]
    )


def popularity_lists(
    settings: Settings, as_of: date, days: int = 7, top: int = 200
) -> dict[str, Any]:
    """Most-played active slots over the last `days`, globally and per player segment."""
    frame = _read(settings, POPULARITY_QUERY, [as_of - timedelta(days=days - 1), as_of, as_of])

    def ranked(rows: pd.DataFrame) -> list[str]:
        totals = rows.groupby("slot_id")[["players", "play_seconds"]].sum()
        totals = totals.sort_values(["players", "play_seconds"], ascending=False, kind="stable")
        return totals.index[:top].tolist()

    return {
        "window_days": days,
        "global": ranked(frame),
        "by_segment": {seg: ranked(rows) for seg, rows in frame.groupby("segment")},
    }


def point_in_time_segments(
    settings: Settings, user_ids: list[str], at: pd.Timestamp
) -> dict[str, str]:
    """Each player's segment as Feast's offline store had it at `at` (point-in-time join).

    Read through the `evaluation_groups_v1` feature service, the evaluation's feature contract.
    """
    from feature_repo import store as feature_store
    from feature_repo.feature_services import EVALUATION_GROUPS

    if not user_ids:
        return {}
    store = feature_store.open_store(settings)
    entity_df = pd.DataFrame({"user_id": user_ids, "event_timestamp": at})
    frame = store.get_historical_features(
        entity_df=entity_df, features=store.get_feature_service(EVALUATION_GROUPS)
    ).to_df()
    return {
        str(user_id): segment
        for user_id, segment in zip(frame["user_id"], frame["segment"], strict=True)
        if isinstance(segment, str)
    }


def load_slotrec_data(
    settings: Settings,
    as_of: date,
    *,
    history_days: int = 60,
    valid_days: int = 3,
    test_days: int = 1,
    with_feast: bool = True,
) -> SlotrecData:
    """Build the temporal split for a daily retrain ending at `as_of`.

    Train covers the days before the validation window, validation the next `valid_days`,
    test the final `test_days` (what players really played next). Held-out pairs are only those
    new to the player, since a lobby never re-recommends a slot the player already plays.
    """
    plays = load_daily_plays(settings, as_of, history_days)
    if plays.empty:
        raise ValueError(f"no plays in the warehouse up to {as_of}: nothing to train on")
    user_ids, slot_ids = _load_index(settings)
    span_days = (plays["played_on"].max() - plays["played_on"].min()).days + 1
    valid_days = _fit_valid_days(span_days, valid_days, test_days, as_of)
    split = _graded_split(plays, valid_days, test_days, len(user_ids), len(slot_ids), as_of)

    slots = _read(settings, "select * from slots order by slot_idx", [])
    users = _read(
        settings,
        "select user_id, user_idx, segment, first_played_at from users order by user_idx",
        [],
    )
    test_start = pd.Timestamp(split.test[TIME].min()) if len(split.test) else pd.Timestamp(as_of)
    groups = _evaluation_groups(settings, split, users, test_start, with_feast)
    log.info(
        "training data: %d train pairs, %d validation, %d test",
        len(split.train),
        len(split.valid),
        len(split.test),
    )
    return SlotrecData(
        split=split,
        user_ids=user_ids,
        slot_ids=slot_ids,
        slots=slots,
        users=users,
        popularity=popularity_lists(settings, as_of),
        window=_window(split, as_of, history_days, valid_days, test_days),
        groups=groups,
    )


def _load_index(settings: Settings) -> tuple[list[str], list[str]]:
    """The external player and slot ids, each list ordered by its stable index.

    Args:
        settings: Where the warehouse is.

    Returns:
        `(user_ids, slot_ids)`: position = `user_idx` / `slot_idx`.
    """
    index = _read(
        settings,
        "select 'user' as side, user_id as id, user_idx as idx from user_index "
        "union all select 'slot', slot_id, slot_idx from slot_index",
        [],
    )
    return _ids_by_index(index[index.side == "user"]), _ids_by_index(index[index.side == "slot"])


def _fit_valid_days(span_days: int, valid_days: int, test_days: int, as_of: date) -> int:
    """The validation window the history allows, or an error when it allows no split at all.

    Args:
        span_days: Days from the first to the last day with plays.
        valid_days: The configured validation window.
        test_days: The test window.
        as_of: The run's last day (for the error message).

    Returns:
        The validation days to use.

    Raises:
        ValueError: Too few days for a train, a validation and a test day.
    """
    # A young deployment (a few days of history) still gets a train window at least twice as
    # long as validation; the configured window applies once history allows it.
    valid_days = min(valid_days, max(1, (span_days - test_days) // 3))
    if span_days < test_days + valid_days + 1:
        raise ValueError(
            f"only {span_days} day(s) of plays up to {as_of}: training needs at least "
            f"{test_days + valid_days + 1} (train, validation and test days)"
        )
    return valid_days


def _graded_split(
    plays: pd.DataFrame,
    valid_days: int,
    test_days: int,
    n_users: int,
    n_items: int,
    as_of: date,
) -> Split:
    """The temporal split of the daily plays, train collapsed into graded (user, slot) pairs.

    Args:
        plays: `load_daily_plays` rows.
        valid_days: Validation days.
        test_days: Test days.
        n_users: Size of the user index space.
        n_items: Size of the slot index space.
        as_of: The run's last day (for the error message).

    Returns:
        The split.

    Raises:
        ValueError: A part of the split came out empty.
    """
    split = temporal_split(
        plays,
        valid_days=valid_days,
        test_days=test_days,
        weight_col=PLAY_SECONDS,
        n_users=n_users,
        n_items=n_items,
    )
    if split.train.empty or split.valid.empty or split.test.empty:
        raise ValueError(
            f"too little data up to {as_of} for a temporal split: {len(split.train)} train, "
            f"{len(split.valid)} validation, {len(split.test)} test interactions"
        )
    # temporal_split carried play seconds in the weight column; turn train into graded pairs.
    train_days = split.train.rename(columns={WEIGHT: PLAY_SECONDS})
    return Split(collapse_train(train_days), split.valid, split.test, split.n_users, split.n_items)


def _window(
    split: Split, as_of: date, history_days: int, valid_days: int, test_days: int
) -> dict[str, Any]:
    """The training window's description the bundle records.

    Args:
        split: The graded split.
        as_of: The run's last day.
        history_days: Days of plays read.
        valid_days: Validation days used.
        test_days: Test days.

    Returns:
        Window dates, lengths and pair counts.
    """
    return {
        "as_of": as_of.isoformat(),
        "history_days": history_days,
        "train_start": str(pd.Timestamp(split.train[TIME].min()).date()),
        "train_end": str(pd.Timestamp(split.train[TIME].max()).date()),
        "valid_days": valid_days,
        "test_days": test_days,
        "train_pairs": len(split.train),
        "valid_pairs": len(split.valid),
        "test_pairs": len(split.test),
    }


def _ids_by_index(frame: pd.DataFrame) -> list[str]:
    """External ids ordered by their consecutive index (0..n-1, as the index marts guarantee)."""
    ordered = frame.sort_values("idx")
    if not np.array_equal(ordered["idx"].to_numpy(), np.arange(len(ordered))):
        raise ValueError("index mart is not consecutive from 0; rebuild the index marts")
    return ordered["id"].tolist()


def _evaluation_groups(
    settings: Settings,
    split: Split,
    users: pd.DataFrame,
    test_start: pd.Timestamp,
    with_feast: bool,
) -> dict[int, str]:
    """Label each test user: "new" (first play within 7 days of the test) or their segment."""
    test_users = np.unique(split.test[USER].to_numpy())
    info = users.set_index("user_idx").reindex(test_users)
    recent = test_start - pd.Timedelta(days=7)
    segments: dict[str, str] = {}
    if with_feast:
        ids = info["user_id"].dropna().tolist()
        segments = point_in_time_segments(settings, ids, test_start)
    groups: dict[int, str] = {}
    for user_idx, user_id, segment, first in zip(
        test_users, info["user_id"], info["segment"], info["first_played_at"], strict=True
    ):
        if pd.notna(first) and pd.Timestamp(first) >= recent:
            groups[int(user_idx)] = "new"
        else:
            groups[int(user_idx)] = segments.get(user_id, segment or "unknown")
    return groups
