"""What was recommended: distribution of recommended slots, popularity bias, catalogue coverage,
personalisation and novelty, from the served lists.

A served list is the set of impressions sharing one `request_id` (the raw event contract's
impression rows: `request_id, user_id, slot_id`, plus `position` and `variant` where the serving
log carries them). Popularity is the share of players who played a slot in the reference data
(the warehouse's interactions), so bias and novelty are read against what players actually do.

- coverage: distinct recommended slots / catalogue size;
- popularity bias (ARP): mean, over impressions, of the recommended slot's player share;
- novelty: mean self-information `-log2(player share)`; a slot nobody played counts as played
  by one player, the most novel value instead of an infinity (as `training.metrics.novelty`);
- personalisation: 1 − mean overlap of two lists shown to different players, the overlap of
  lists A and B being `|A ∩ B| / sqrt(|A| |B|)` (the cosine of their 0/1 vectors, `|A ∩ B| / k`
  for two lists of length k). Computed exactly in O(rows) with the identity
  Σ_{i<j} v_i·v_j = (|Σ v_i|² − Σ |v_i|²) / 2 over unit vectors, minus the same-player pairs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

SERVED_REQUIRED = ("request_id", "user_id", "slot_id")
TOP_SLOTS_IN_SUMMARY = 20


class ServedListsError(ValueError):
    """The served-recommendations frame cannot be read (missing columns)."""


def served_lists(served: pd.DataFrame) -> pd.DataFrame:
    """Validate and tidy served impressions: one row per (request, slot), with a position.

    A missing `position` is taken from the row order within each request (1-based); a missing
    `variant` becomes "unknown". Rows without a request id are not served recommendations and
    are dropped.

    Raises:
        ServedListsError: a required column is missing.
    """
    missing = [c for c in SERVED_REQUIRED if c not in served.columns]
    if missing:
        raise ServedListsError(
            f"served recommendations lack column(s) {missing}; expected at least "
            f"{list(SERVED_REQUIRED)}, got {list(served.columns)}"
        )
    frame = served.dropna(subset=["request_id", "slot_id"]).copy()
    if "position" not in frame:
        frame["position"] = frame.groupby("request_id").cumcount() + 1
    if "variant" not in frame:
        frame["variant"] = "unknown"
    frame["variant"] = frame["variant"].fillna("unknown").astype(str)
    frame = frame.drop_duplicates(["request_id", "slot_id"])
    return frame[["request_id", "user_id", "slot_id", "position", "variant"]].reset_index(drop=True)


def personalisation(lists: pd.DataFrame) -> float | None:
    """1 − mean cosine overlap between lists shown to different players.

    Args:
        lists: `served_lists` output (one row per request × slot).

    Returns:
        Personalisation in [0, 1], or None when fewer than two players were served.
    """
    length = lists.groupby("request_id")["slot_id"].transform("size").to_numpy(dtype=float)
    weighted = lists.assign(w=1.0 / np.sqrt(length))  # each list becomes a unit vector
    n_lists = lists["request_id"].nunique()
    # Σ over all pairs of lists: (|Σ v|² − n) / 2
    total = (np.square(weighted.groupby("slot_id")["w"].sum()).sum() - n_lists) / 2
    # the same over pairs of one player's lists, which personalisation must not count
    per_user = weighted.groupby(["user_id", "slot_id"])["w"].sum()
    lists_per_user = lists.groupby("user_id")["request_id"].nunique()
    same_user = (np.square(per_user).groupby(level=0).sum() - lists_per_user).sum() / 2
    pairs = n_lists * (n_lists - 1) / 2 - (lists_per_user * (lists_per_user - 1) / 2).sum()
    if pairs <= 0:
        return None
    return float(1.0 - (total - same_user) / pairs)


def recommendation_metrics(
    served: pd.DataFrame,
    slot_players: Mapping[str, int] | pd.Series,
    n_players: int,
    catalogue_size: int,
) -> dict[str, Any]:
    """Beyond-accuracy metrics of served lists, overall and per variant.

    Args:
        served: served impressions (`request_id, user_id, slot_id[, position, variant]`).
        slot_players: slot_id → number of distinct players who played it (reference data).
        n_players: players in the reference data (the denominator of the player share).
        catalogue_size: active slots that could have been recommended.

    Returns:
        `lists, players, impressions, coverage, popularity_bias, novelty, personalisation,
        top_slots` (slot → share of impressions) and `by_variant` with the same per variant.
    """
    lists = served_lists(served)
    overall = _metrics(lists, slot_players, n_players, catalogue_size)
    overall["by_variant"] = {
        str(variant): _metrics(rows, slot_players, n_players, catalogue_size)
        for variant, rows in lists.groupby("variant")
    }
    return overall


def _metrics(
    lists: pd.DataFrame,
    slot_players: Mapping[str, int] | pd.Series,
    n_players: int,
    catalogue_size: int,
) -> dict[str, Any]:
    if lists.empty:
        return {"lists": 0, "players": 0, "impressions": 0}
    share = player_share(lists["slot_id"], slot_players, n_players)
    counts = lists["slot_id"].value_counts()
    top = (counts / counts.sum()).head(TOP_SLOTS_IN_SUMMARY)
    return {
        "lists": int(lists["request_id"].nunique()),
        "players": int(lists["user_id"].nunique()),
        "impressions": len(lists),
        "distinct_slots": len(counts),
        "coverage": float(len(counts) / catalogue_size) if catalogue_size else None,
        "popularity_bias": float(share.mean()),
        "novelty": float(np.mean(-np.log2(np.maximum(share, 1.0 / max(n_players, 1))))),
        "personalisation": personalisation(lists),
        "top_slots": {str(k): float(v) for k, v in top.items()},
    }


def player_share(
    slot_ids: pd.Series, slot_players: Mapping[str, int] | pd.Series, n_players: int
) -> np.ndarray:
    """Share of reference players who played each slot (0 for a slot nobody played)."""
    players = pd.Series(slot_players, dtype="float64")
    counts = slot_ids.map(players).fillna(0.0).to_numpy(dtype=np.float64)
    return counts / max(n_players, 1)


def recommendation_report(
    current: pd.DataFrame,
    reference: pd.DataFrame | None,
    slot_players: Mapping[str, int] | pd.Series,
    n_players: int,
) -> Any:
    """An Evidently report of served lists: recommended slots, positions, variants and the
    recommended slots' player share, today against the reference lists when there are any.

    Args:
        current: today's served impressions.
        reference: earlier served impressions, or None / empty for a summary of today alone.
        slot_players: slot_id → players who played it (reference data).
        n_players: players in the reference data.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset, DataSummaryPreset

    def frame(served: pd.DataFrame) -> pd.DataFrame:
        lists = served_lists(served)
        lists["player_share"] = player_share(lists["slot_id"], slot_players, n_players)
        return lists[["slot_id", "position", "variant", "player_share"]]

    definition = DataDefinition(
        numerical_columns=["position", "player_share"], categorical_columns=["slot_id", "variant"]
    )
    today = Dataset.from_pandas(frame(current), data_definition=definition)
    if reference is None or served_lists(reference).empty:
        return Report([DataSummaryPreset()]).run(current_data=today, reference_data=None)
    before = Dataset.from_pandas(frame(reference), data_definition=definition)
    return Report([DataDriftPreset(num_method="wasserstein", cat_method="jensenshannon")]).run(
        current_data=today, reference_data=before
    )
