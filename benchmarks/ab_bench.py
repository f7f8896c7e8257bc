"""Error rates of the A/B readout on simulated experiments (not a speed benchmark).

A/A tests (no true difference) looked at several times as data accumulate measure the false
winner rate of the always-valid (mSPRT) verdict and, for contrast, of a fixed-horizon z-test
read at every look (peeking, which the fixed-horizon test forbids). A/B tests with a known
better treatment measure how often the right winner is named. Writes JSON.

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


def winner_rate(
    seeds: int, users: int, ctr: dict[str, float], looks: int, mode: str, expect: str | None
) -> float:
    """Share of experiments whose readout named a winner at any look (or the expected one)."""
    hits = 0
    for seed in range(seeds):
        impressions, clicks, plays = simulate(10_000 + seed, users, ctr)
        for look in np.linspace(users / looks, users, looks):
            seen = impressions[impressions["user_id"] < look]
            readout = ab_readout(
                seen,
                clicks,
                plays,
                control=sorted(ctr)[0],
                mode=mode,  # type: ignore[arg-type]
                sample_size=1 if mode == "fixed_horizon" else None,
                session_bound=0.3,
                volatility_bound=0.15,
            )
            if readout.winner is not None and readout.winner != sorted(ctr)[0]:
                hits += expect is None or readout.winner == expect
                break
    return hits / seeds


def run(out: Path, seeds: int = 300, users: int = 1000, looks: int = 5) -> dict[str, Any]:
    null = {"A": 0.2, "B": 0.2}
    lift = {"A": 0.2, "B": 0.24}
    result = {
        "alpha": 0.05,
        "seeds": seeds,
        "players_per_experiment": users,
        "looks": looks,
        "aa_false_winner_rate_msprt": winner_rate(seeds, users, null, looks, "sequential", None),
        "aa_false_winner_rate_peeking_z_test": winner_rate(
            seeds, users, null, looks, "fixed_horizon", None
        ),
        "ab_power_seeds": max(seeds // 6, 1),
        "ab_power_players": users * 8,
        "ab_power_msprt_ctr_0.20_vs_0.24": winner_rate(
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
