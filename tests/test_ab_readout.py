"""A/B readout statistics: hand-computed values, a known winner, and simulated A/A tests."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from monitoring.ab_readout import (
    ReadoutError,
    ab_readout,
    dashboard_values,
    exposure_outcomes,
    msprt_p_value,
    ratio_and_variance,
    required_exposures,
    write_readout,
)


def simulate_experiment(
    seed: int,
    users: int,
    ctr: dict[str, float],
    play_given_click: float = 0.6,
    high_volatility: dict[str, float] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Players split between variants; each sees 1-5 lists, clicks with the variant's rate."""
    rng = np.random.default_rng(seed)
    variants = sorted(ctr)
    impressions, clicks, plays = [], [], []
    for u in range(users):
        user = f"u{u}"
        variant = variants[u % len(variants)]
        for r in range(1 + rng.poisson(1.5)):
            request = f"{user}-r{r}"
            impressions.append((request, user, variant))
            if rng.random() < ctr[variant]:
                clicks.append((request, "s1"))
                if rng.random() < play_given_click:
                    hv_rate = (high_volatility or {}).get(variant, 0.3)
                    volatility = "high" if rng.random() < hv_rate else "low"
                    plays.append(
                        (request, user, "s1", float(rng.exponential(10.0)), request, volatility)
                    )
    return (
        pd.DataFrame(impressions, columns=["request_id", "user_id", "variant"]),
        pd.DataFrame(clicks, columns=["request_id", "slot_id"]),
        pd.DataFrame(
            plays,
            columns=["request_id", "user_id", "slot_id", "minutes", "session_id", "volatility"],
        ),
    )


def test_exposure_outcomes_by_hand():
    impressions = pd.DataFrame(
        {
            "request_id": ["r1", "r1", "r2", "r3"],
            "user_id": ["a", "a", "a", "b"],
            "variant": ["A", "A", "A", "B"],
        }
    )
    t = pd.Timestamp("2026-01-01 10:00", tz="UTC")
    clicks = pd.DataFrame(
        {
            "request_id": ["r1", "r3"],
            "slot_id": ["s1", "s9"],
            "occurred_at": [t, t],
        }
    )
    plays = pd.DataFrame(
        {
            # r1: clicked s1 then played it; r3: played s9 BEFORE the click, so no play-through
            "request_id": ["r1", "r1", "r3"],
            "slot_id": ["s1", "s1", "s9"],
            "minutes": [5.0, 2.5, 4.0],
            "occurred_at": [
                t + pd.Timedelta("1min"),
                t + pd.Timedelta("9min"),
                t - pd.Timedelta("1min"),
            ],
        }
    )
    out = exposure_outcomes(impressions, clicks, plays).set_index("request_id")
    assert out["clicked"].to_dict() == {"r1": 1, "r2": 0, "r3": 1}
    assert out["played_through"].to_dict() == {"r1": 1, "r2": 0, "r3": 0}
    assert out["minutes"].to_dict() == {"r1": 7.5, "r2": 0.0, "r3": 4.0}


def test_ratio_and_delta_method_variance_by_hand():
    # players: (clicks, lists) = (1, 2), (0, 1), (3, 3): R = 4/6
    ratio, variance = ratio_and_variance(np.array([1.0, 0.0, 3.0]), np.array([2.0, 1.0, 3.0]))
    assert ratio == pytest.approx(4 / 6)
    residual = np.array([1 - 4 / 6 * 2, 0 - 4 / 6 * 1, 3 - 4 / 6 * 3])
    expected = residual.var(ddof=1) / (3 * 2.0**2)
    assert variance == pytest.approx(expected)


def test_msprt_p_value_by_hand():
    # V = 1, tau2 = 1, difference 3: Λ = sqrt(1/2) * exp(9 / 4)
    assert msprt_p_value(3.0, 1.0, 1.0) == pytest.approx(1 / (math.sqrt(0.5) * math.exp(2.25)))
    assert msprt_p_value(0.0, 1.0, 1.0) == 1.0


def test_required_exposures_matches_the_textbook_formula():
    # p0 = 0.2 → 0.22, alpha 0.05, power 0.8: (1.95996 + 0.84162)^2 * (0.16 + 0.1716) / 0.02^2
    assert required_exposures(0.2, 0.1, 0.05, 0.8) == 6507


def test_a_known_winner_is_named_with_guardrails_passing():
    impressions, clicks, plays = simulate_experiment(
        seed=1, users=6000, ctr={"control": 0.20, "treatment": 0.26}
    )
    # bounds wide enough for 6,000 players to show the (truly unchanged) guardrails are safe
    readout = ab_readout(
        impressions, clicks, plays, control="control", session_bound=0.3, volatility_bound=0.15
    )
    assert readout.winner == "treatment", readout.verdict
    ctr = readout.estimates["treatment"]["ctr"]
    assert ctr.ci_low < 0.26 < ctr.ci_high
    assert {g.status for g in readout.guardrails} == {"pass"}


def test_a_guardrail_breach_blocks_the_winner():
    impressions, clicks, plays = simulate_experiment(
        seed=2,
        users=6000,
        ctr={"control": 0.20, "treatment": 0.26},
        high_volatility={"control": 0.2, "treatment": 0.7},
    )
    readout = ab_readout(impressions, clicks, plays, control="control")
    guard = {g.name: g for g in readout.guardrails}["high_volatility_share"]
    assert guard.status == "fail"
    assert readout.winner is None
    assert "guardrails do not pass" in readout.verdict


def test_fixed_horizon_waits_for_the_declared_sample_size():
    impressions, clicks, plays = simulate_experiment(
        seed=3, users=400, ctr={"control": 0.2, "treatment": 0.4}
    )
    readout = ab_readout(
        impressions, clicks, plays, mode="fixed_horizon", sample_size=10_000, control="control"
    )
    assert readout.winner is None
    assert "waiting for the pre-declared 10000 exposures" in readout.verdict


@pytest.mark.slow
def test_sequential_aa_tests_rarely_declare_a_winner():
    """300 seeded A/A tests, each looked at 3 times as data accumulate (peeking)."""
    alpha = 0.05
    false_winners = 0
    for seed in range(300):
        impressions, clicks, plays = simulate_experiment(
            seed=1000 + seed, users=450, ctr={"A": 0.2, "B": 0.2}
        )
        users = impressions["user_id"].str[1:].astype(int)
        for look in (150, 300, 450):
            seen = impressions[users < look]
            readout = ab_readout(seen, clicks, plays, alpha=alpha, control="A")
            if readout.winner is not None:
                false_winners += 1
                break
    # the always-valid test holds its level under peeking (a naive z-test would not)
    assert false_winners / 300 <= alpha


def test_bad_frames_are_named():
    with pytest.raises(ReadoutError, match="impressions frame lacks"):
        ab_readout(pd.DataFrame({"request_id": []}), pd.DataFrame(), pd.DataFrame())
    impressions, clicks, plays = simulate_experiment(seed=4, users=20, ctr={"A": 0.2})
    with pytest.raises(ReadoutError, match="two variants"):
        ab_readout(impressions, clicks, plays)


def test_readout_files(tmp_path):
    impressions, clicks, plays = simulate_experiment(
        seed=5, users=300, ctr={"control": 0.2, "treatment": 0.3}
    )
    paths = write_readout(ab_readout(impressions, clicks, plays, control="control"), tmp_path)
    payload = json.loads((tmp_path / "ab_readout.json").read_text())
    assert payload["control"] == "control"
    assert set(payload["estimates"]) == {"control", "treatment"}
    html = (tmp_path / "ab_readout.html").read_text()
    assert html.count("plotly-graph-div") >= 5  # three metrics + two guardrails
    assert paths["html"].endswith("ab_readout.html")


def test_dashboard_values_of_a_readout():
    impressions, clicks, plays = simulate_experiment(
        seed=6, users=400, ctr={"control": 0.2, "treatment": 0.3}
    )
    readout = ab_readout(impressions, clicks, plays, control="control")
    values = dashboard_values(readout)
    assert values["ab_exposures"] == impressions["request_id"].nunique()
    (primary,) = [c for c in readout.comparisons if c.metric == "play_through"]
    assert values["ab_lift"] == primary.relative_difference
