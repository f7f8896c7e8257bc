"""Error rates of the A/B readout on simulated experiments (not a speed benchmark).

A/A tests (no true difference) read at several growing sizes measure how often the primary
metric comes out significant (a false positive at any look) and a winner is named, for the
always-valid (mSPRT) verdict and, for contrast, for a fixed-horizon z-test read at every look
(peeking, which a fixed-horizon test forbids). A/B tests with a known better treatment measure
how often the right winner is named. Writes JSON.

    python -m benchmarks.ab_bench --out benchmarks/results/ab_readout.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitoring.ab_readout import ab_readout


def simulate(seed: int, users: int, ctr: dict[str, float]) -> tuple[pd.DataFrame, ...]:
    """Players alternate between variants; 1+Poisson(1.5) lists each; click then play (0.6)."""
    rng = np.random.default_rng(seed)
    variants = sorted(ctr)
    n_lists = 1 + rng.poisson(1.5, users)
    user = np.repeat(np.arange(users), n_lists)
    variant = np.array(variants)[user % len(variants)]
    request = np.array(
        [f"u{u}-r{i}" for u, k in zip(range(users), n_lists, strict=True) for i in range(k)]
    )
    clicked = rng.random(len(user)) < np.vectorize(ctr.get)(variant)
    played = clicked & (rng.random(len(user)) < 0.6)
    impressions = pd.DataFrame({"request_id": request, "user_id": user, "variant": variant})
    clicks = pd.DataFrame({"request_id": request[clicked], "slot_id": "s1"})
    plays = pd.DataFrame(
        {
            "request_id": request[played],
            "user_id": user[played],
            "slot_id": "s1",
            "minutes": rng.exponential(10.0, played.sum()),
            "session_id": request[played],
            "volatility": np.where(rng.random(played.sum()) < 0.3, "high", "low"),
        }
    )
    return impressions, clicks, plays


def detection_rates(
    seeds: int, users: int, ctr: dict[str, float], looks: int, mode: str, expect: str | None
) -> dict[str, float]:
    """Over `seeds` experiments, each read at `looks` growing sizes, stopping at the first hit:

    - `significant`: the primary metric differed significantly (either direction) at a look;
    - `winner`: a treatment was named the winner (the expected one, when `expect` is given).
    """
    significant = winners = 0
    control = sorted(ctr)[0]
    for seed in range(seeds):
        impressions, clicks, plays = simulate(10_000 + seed, users, ctr)
        seen_significant = seen_winner = False
        for look in np.linspace(users / looks, users, looks):
            readout = ab_readout(
                impressions[impressions["user_id"] < look],
                clicks,
                plays,
                control=control,
                mode=mode,  # type: ignore[arg-type]
                sample_size=1 if mode == "fixed_horizon" else None,
                session_bound=0.3,
                volatility_bound=0.15,
            )
            primary = [c for c in readout.comparisons if c.metric == readout.primary_metric]
            seen_significant |= any(c.significant for c in primary)
            named = readout.winner is not None and readout.winner != control
            seen_winner |= named and (expect is None or readout.winner == expect)
            if seen_significant and seen_winner:
                break
        significant += seen_significant
        winners += seen_winner
    return {"significant": significant / seeds, "winner": winners / seeds}


def run(out: Path, seeds: int = 300, users: int = 1000, looks: int = 5) -> dict[str, Any]:
    null = {"A": 0.2, "B": 0.2}
    lift = {"A": 0.2, "B": 0.24}
    result = {
        "alpha": 0.05,
        "seeds": seeds,
        "players_per_experiment": users,
        "looks": looks,
        "aa_msprt": detection_rates(seeds, users, null, looks, "sequential", None),
        "aa_z_test_read_at_every_look": detection_rates(
            seeds, users, null, looks, "fixed_horizon", None
        ),
        "ab_power_seeds": max(seeds // 6, 1),
        "ab_power_players": users * 8,
        "ab_msprt_ctr_0.20_vs_0.24": detection_rates(
            max(seeds // 6, 1), users * 8, lift, looks, "sequential", "B"
        ),
        "load_average": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ab_readout.json"))
    parser.add_argument("--seeds", type=int, default=300)
    args = parser.parse_args()
    print(json.dumps(run(args.out, args.seeds), indent=2))
