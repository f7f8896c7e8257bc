"""Recommendation drift metrics on a hand-made frame of served lists, with exact values."""

from __future__ import annotations

import pandas as pd
import pytest

from monitoring.recommendation_drift import (
    ServedListsError,
    personalisation,
    recommendation_metrics,
    recommendation_report,
    served_lists,
)

# four served lists: u1 twice (r1, r4: the same two slots), u2 and u3 once
SERVED = pd.DataFrame(
    {
        "request_id": ["r1", "r1", "r2", "r2", "r3", "r3", "r4", "r4"],
        "user_id": ["u1", "u1", "u2", "u2", "u3", "u3", "u1", "u1"],
        "slot_id": ["a", "b", "a", "c", "d", "e", "a", "b"],
        "variant": ["A", "A", "A", "A", "B", "B", "B", "B"],
    }
)
# players (of 8) who played each slot; nobody played e
SLOT_PLAYERS = {"a": 4, "b": 2, "c": 1, "d": 1}


def test_positions_come_from_the_order_within_a_request():
    lists = served_lists(SERVED)
    assert lists["position"].tolist() == [1, 2, 1, 2, 1, 2, 1, 2]
    assert set(lists["variant"]) == {"A", "B"}


def test_personalisation_counts_only_pairs_of_different_players():
    # different-player pairs: (r1,r2) 1/2, (r1,r3) 0, (r2,r3) 0, (r2,r4) 1/2, (r3,r4) 0
    assert personalisation(served_lists(SERVED)) == pytest.approx(1 - 1.0 / 5)


def test_identical_lists_for_everyone_are_not_personalised():
    same = pd.DataFrame(
        {
            "request_id": ["x", "x", "y", "y"],
            "user_id": ["p", "p", "q", "q"],
            "slot_id": list("abab"),
        }
    )
    assert personalisation(served_lists(same)) == pytest.approx(0.0)


def test_metrics_by_hand():
    out = recommendation_metrics(SERVED, SLOT_PLAYERS, n_players=8, catalogue_size=10)
    assert out["lists"] == 4
    assert out["players"] == 3
    assert out["impressions"] == 8
    assert out["coverage"] == pytest.approx(5 / 10)
    # player shares a .5 b .25 a .5 c .125 d .125 e 0 a .5 b .25
    assert out["popularity_bias"] == pytest.approx(2.25 / 8)
    # -log2 of the shares, e counted as one player (1/8): 1 2 1 3 3 3 1 2
    assert out["novelty"] == pytest.approx(16 / 8)
    assert out["top_slots"]["a"] == pytest.approx(3 / 8)
    assert out["by_variant"]["A"]["personalisation"] == pytest.approx(0.5)
    assert out["by_variant"]["B"]["personalisation"] == pytest.approx(1.0)
    assert out["by_variant"]["B"]["coverage"] == pytest.approx(4 / 10)


def test_missing_columns_are_named():
    with pytest.raises(ServedListsError, match=r"\['slot_id'\]"):
        served_lists(SERVED.drop(columns="slot_id"))


def test_evidently_report_flags_a_shifted_slot_distribution(tmp_path):
    reference = pd.concat(
        [SERVED.assign(request_id=SERVED.request_id + f"-{i}") for i in range(30)]
    )
    shifted = reference.assign(slot_id="e")  # every tile is now the one slot nobody plays
    snapshot = recommendation_report(shifted, reference, SLOT_PLAYERS, 8)
    drift = {
        m["config"]["column"]: m["value"]
        for m in snapshot.dict()["metrics"]
        if m["config"]["type"].endswith(":ValueDrift")
    }
    assert drift["slot_id"] > 0.1
    assert drift["player_share"] > 0.1
    unchanged = recommendation_report(reference, reference, SLOT_PLAYERS, 8)
    same = {
        m["config"]["column"]: m["value"]
        for m in unchanged.dict()["metrics"]
        if m["config"]["type"].endswith(":ValueDrift")
    }
    assert same["slot_id"] == pytest.approx(0.0, abs=1e-9)
