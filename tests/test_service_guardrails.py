"""Responsible-play guardrails for at-risk players, through the service class (tiny world).

The risk level is written to the real Feast online store the way a daily run's materialize
leaves it (view `player_risk`), and read back by the service with the player's live state.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pandas as pd
import pytest
from prometheus_client import REGISTRY

from bentos import api
from bentos.app import SlotrecApp
from tests.service_world import THRESHOLD_SECONDS, build_world, play_events, serving_settings

GUARDED = ["no_exploration", "no_new_games", "volatility_excluded", "volatility_demoted"]


@pytest.fixture
def exploring(tmp_path) -> Iterator[SlotrecApp]:
    """A service where every player is in the exploration segment, with a new game to explore."""
    settings = serving_settings(tmp_path, exploration_user_share=1.0, exploration_share=0.2)
    svc = SlotrecApp(settings)
    svc.slots(
        api.SlotRegistration(
            slot_id="s903",
            name="Calm Waters",
            provider="Alpha",
            theme="fishing",
            volatility="low",
            rtp=0.96,
            max_win_multiplier=500,
            jurisdictions=["GB", "SE"],
        )
    )
    yield svc
    svc.store.close()


def _set_risk(svc: SlotrecApp, levels: dict[str, str]) -> None:
    """Write player_risk rows to the online store, as a daily materialize does."""
    n = len(levels)
    frame = pd.DataFrame(
        {
            "user_id": list(levels),
            "feature_timestamp": [datetime.now(UTC)] * n,
            "session_count_7d": [5] * n,
            "long_session_count_7d": [3] * n,
            "night_session_share_7d": [0.5] * n,
            "loss_chase_share_7d": [0.1] * n,
            "play_seconds_recent_3d": [20_000.0] * n,
            "play_time_growth": [1.0] * n,
            "has_long_sessions": [level != "none" for level in levels.values()],
            "has_late_night_play": [level == "high" for level in levels.values()],
            "has_loss_chasing": [False] * n,
            "has_escalating_play": [False] * n,
            "risk_signal_count": [
                {"none": 0, "elevated": 1, "high": 2}[v] for v in levels.values()
            ],
            "risk_level": list(levels.values()),
        }
    )
    svc.store.feature_store.write_to_online_store("player_risk", frame)


def _recommend(svc: SlotrecApp, user_id: str, k: int = 10) -> api.RecommendResponse:
    return svc.recommend(api.RecommendRequest(user_id=user_id, k=k))


def _guardrail_count(guardrail: str, endpoint: str) -> float:
    value = REGISTRY.get_sample_value(
        "slotrec_guardrail_total", {"guardrail": guardrail, "endpoint": endpoint}
    )
    return value or 0.0


def test_an_at_risk_player_gets_no_very_high_volatility_and_no_exploration(exploring):
    svc = exploring
    volatility = build_world().slots.set_index("slot_id")["volatility"].to_dict()
    # fishing fans, all in the exploration segment; u0005 elevated, u0017 high, u0029 none
    _set_risk(svc, {"u0005": "elevated", "u0017": "high", "u0029": "none"})
    before = _guardrail_count("volatility_excluded", "recommend")

    elevated = _recommend(svc, "u0005")
    assert len(elevated.items) == 10 and elevated.guardrails == GUARDED
    levels = [volatility.get(i.slot_id, "low") for i in elevated.items]
    assert "very_high" not in levels
    assert not {i.reason for i in elevated.items} & {"exploration", "new_game"}
    assert "s903" not in {i.slot_id for i in elevated.items}
    # high volatility is demoted: every high slot ranks after every other slot of the list
    if "high" in levels:
        first_high = levels.index("high")
        assert all(level == "high" for level in levels[first_high:])

    high = _recommend(svc, "u0017")
    assert high.guardrails == ["no_exploration", "no_new_games", "volatility_excluded"]
    assert not {volatility.get(i.slot_id, "low") for i in high.items} & {"high", "very_high"}
    assert not {i.reason for i in high.items} & {"exploration", "new_game"}
    assert _guardrail_count("volatility_excluded", "recommend") == before + 2

    # similar, personalised for an at-risk player: the same exclusions
    assert volatility["s009"] == "very_high"
    near = svc.similar(api.SimilarRequest(slot_id="s009", k=8, user_id="u0017"))
    assert near.guardrails == ["no_exploration", "no_new_games", "volatility_excluded"]
    assert len(near.items) == 8
    assert not {volatility.get(i.slot_id, "low") for i in near.items} & {"high", "very_high"}
    plain_near = svc.similar(api.SimilarRequest(slot_id="s009", k=8, user_id="u0029"))
    assert plain_near.guardrails == []
    assert "very_high" in {volatility.get(i.slot_id) for i in plain_near.items}

    # a player whose level is none, and one with no risk row, are unaffected
    for user_id in ("u0029", "u0041"):
        plain = _recommend(svc, user_id)
        assert plain.guardrails == []
        assert {"exploration", "new_game"} & {i.reason for i in plain.items}
    # u0009 and u0021 love the same theme, whose slots are all very_high: the guardrail, not
    # the world, keeps them out of the at-risk player's list
    world = build_world()
    assert world.favourite_theme["u0009"] == world.favourite_theme["u0021"]
    _set_risk(svc, {"u0009": "elevated"})
    guarded = [volatility.get(i.slot_id, "low") for i in _recommend(svc, "u0009").items]
    unguarded = [volatility.get(i.slot_id, "low") for i in _recommend(svc, "u0021").items]
    assert "very_high" not in guarded
    assert unguarded.count("very_high") >= 3


def test_an_at_risk_player_gets_a_reality_check_instead_of_a_suggestion(exploring):
    svc = exploring
    _set_risk(svc, {"u0030": "elevated"})
    before = _guardrail_count("reality_check", "events")
    events = play_events("u0030", "s018", THRESHOLD_SECONDS + 60, "ses-risk") + play_events(
        "u0031", "s019", THRESHOLD_SECONDS + 60, "ses-norisk"
    )
    response = svc.events(api.EventsRequest.model_validate({"events": events}))
    assert [s.user_id for s in response.suggestions] == ["u0031"]
    assert response.guardrails == ["reality_check"]
    (check,) = response.reality_checks
    assert check.kind == "reality_check" and check.user_id == "u0030"
    assert check.after_slot_id == "s018" and check.risk_level == "elevated"
    assert check.minutes_played == pytest.approx((THRESHOLD_SECONDS + 60) / 60, abs=0.1)
    assert "3 minutes" in check.message
    assert _guardrail_count("reality_check", "events") == before + 1
    # nothing was kept for the at-risk player; the other one finds their suggestion
    assert _recommend(svc, "u0030", k=3).suggestion is None
    kept = _recommend(svc, "u0031", k=3).suggestion
    assert kept is not None and kept.after_slot_id == "s019"
