"""A retrain's input at casino scale, drawn straight from the simulator's hidden truth.

`slotrec bench train` needs a million players' plays. Running the event simulator and dbt
for that would take hours and time the data layer (which `slotrec bench data` already
measures), so this module skips the event stream: it builds the simulator's catalogue and
players, lets each player pick slots by their true affinity, and assembles the same
`SlotrecData` that `training.data.load_slotrec_data` reads from the warehouse (temporal split,
graded weights from play time, catalogue rows, id maps, popularity lists, segments).

How a player picks: a lobby of `candidates` slots (half featured by quality as the simulator's
lobby does, half uniform, so niche tastes can be found), then the top `n` of the lobby by
log-affinity plus Gumbel noise, which samples `n` distinct slots with probability
proportional to affinity. `n` is Poisson around `plays_per_player`; play time grows with
affinity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from slotrec.core.schema import SEGMENTS
from slotrec.simulator.affinity import true_affinity
from slotrec.simulator.catalogue import build_catalogue
from slotrec.simulator.config import SimulationConfig
from slotrec.simulator.players import build_players, user_ids
from training.data import PLAY_SECONDS, SlotrecData, collapse_train
from training.splits import ITEM, TIME, USER, WEIGHT, Split, temporal_split

_START = date(2025, 1, 1)  # first day of the window (the simulator's default start)


@dataclass(frozen=True)
class PlaysConfig:
    """The size and shape of the simulated play log.

    Attributes:
        players: Players (all registered before the window).
        slots: Slots in the catalogue.
        plays_per_player: Mean distinct slots a player plays over the window.
        days: Length of the window; the last `valid_days + test_days` are held out.
        valid_days: Validation days.
        test_days: Test days.
        candidates: Lobby size a player picks from.
        seed: Seeds the world and the picks.
        block: Players per vectorised block (bounds the `[block, candidates]` temporaries).
    """

    players: int = 1_000_000
    slots: int = 5_000
    plays_per_player: int = 20
    days: int = 60
    valid_days: int = 3
    test_days: int = 1
    candidates: int = 96
    seed: int = 7
    block: int = 50_000


def simulated_plays(config: PlaysConfig) -> SlotrecData:
    """Draw the play log and split it the way the daily retrain does.

    Args:
        config: Size and shape of the log.

    Returns:
        The retrain's input: split, id maps, catalogue, players, popularity, window, groups.
    """
    world = SimulationConfig(
        seed=config.seed,
        n_players=config.players,
        n_slots=config.slots,
        days=1,
        new_players_per_day=0,
        new_slots_per_day=0,
    )
    catalogue = build_catalogue(world)
    players = build_players(world)
    plays = _draw_plays(config, players.truth, catalogue.truth)

    split = temporal_split(
        plays,
        valid_days=config.valid_days,
        test_days=config.test_days,
        weight_col=PLAY_SECONDS,
        n_users=config.players,
        n_items=config.slots,
    )
    # as in `load_slotrec_data`: the weight column carried play seconds; train becomes graded pairs
    train = collapse_train(split.train.rename(columns={WEIGHT: PLAY_SECONDS}))
    split = Split(train, split.valid, split.test, split.n_users, split.n_items)

    slots = catalogue.to_table().to_pandas()
    slots["slot_idx"] = np.arange(len(slots))
    segment = np.asarray(SEGMENTS)[players.segment]
    test_users = np.unique(split.test[USER].to_numpy())
    first = pd.Timestamp(_START)
    last = first + pd.Timedelta(days=config.days - 1)
    window = {
        "as_of": str(last.date()),
        "history_days": config.days,
        "train_start": str(first.date()),
        "train_end": str(pd.Timestamp(train[TIME].max()).date()),
        "valid_days": config.valid_days,
        "test_days": config.test_days,
        "train_pairs": len(train),
        "valid_pairs": len(split.valid),
        "test_pairs": len(split.test),
        "source": "simulator truth (benchmarks.simulated_plays)",
    }
    ids = user_ids(np.arange(config.players)).to_pylist()
    return SlotrecData(
        split=split,
        user_ids=ids,
        slot_ids=slots["slot_id"].tolist(),
        slots=slots,
        users=pd.DataFrame(
            {"user_id": ids, "user_idx": np.arange(config.players), "segment": segment}
        ),
        popularity=_popularity(plays, slots["slot_id"].to_numpy(), segment, last),
        window=window,
        groups={int(u): str(segment[u]) for u in test_users},
    )


def _draw_plays(config: PlaysConfig, players: Any, slots: Any) -> pd.DataFrame:
    """User × slot play rows with a play day, play seconds and a timestamp."""
    rng = np.random.default_rng(config.seed)
    lobby = np.exp(3.0 * slots.quality.astype(np.float64))
    lobby_cdf = np.cumsum(lobby / lobby.sum())
    width = config.candidates
    start = pd.Timestamp(_START).value // 1_000  # µs
    parts: list[pd.DataFrame] = []
    for lo in range(0, config.players, config.block):
        users = np.arange(lo, min(lo + config.block, config.players))
        n = len(users)
        featured = np.searchsorted(lobby_cdf, rng.random((n, width // 2)), side="right")
        anywhere = rng.integers(0, config.slots, (n, width - width // 2))
        lobby_rows = np.minimum(np.concatenate([featured, anywhere], axis=1), config.slots - 1)
        affinity = true_affinity(players, slots, np.repeat(users[:, None], width, 1), lobby_rows)
        # Gumbel top-n: n distinct draws, each with probability proportional to affinity
        keys = np.log(np.maximum(affinity, 1e-12)) - np.log(-np.log(rng.random((n, width))))
        order = np.argsort(-keys, axis=1)  # [n, width]
        wanted = np.minimum(1 + rng.poisson(config.plays_per_player - 1, n), width // 2)
        rank = np.arange(width)[None, :]
        picked = rank < wanted[:, None]
        rows = np.repeat(np.arange(n)[:, None], width, 1)[picked]
        cols = order[picked]
        chosen = lobby_rows[rows, cols]
        aff = affinity[rows, cols]
        day = rng.integers(0, config.days, len(chosen))
        seconds = rng.lognormal(np.log(300.0) + 3.0 * aff, 0.8)
        offset = rng.integers(0, 86_400_000_000, len(chosen))
        parts.append(
            pd.DataFrame(
                {
                    USER: users[rows],
                    ITEM: chosen,
                    "played_on": day,
                    PLAY_SECONDS: seconds,
                    TIME: start + day * 86_400_000_000 + offset,
                }
            )
        )
    plays = pd.concat(parts, ignore_index=True)
    # the same slot can sit twice in a lobby; a player's pair counts once (first play)
    plays = plays.sort_values(TIME, kind="stable").drop_duplicates([USER, ITEM])
    plays[TIME] = pd.to_datetime(plays[TIME], unit="us")
    plays["played_on"] = pd.Timestamp(_START) + pd.to_timedelta(plays["played_on"], unit="D")
    return plays.reset_index(drop=True)


def _popularity(
    plays: pd.DataFrame,
    slot_ids: np.ndarray,
    segment: np.ndarray,
    last: pd.Timestamp,
    top: int = 200,
) -> dict[str, Any]:
    """Most-played slots over the last 7 days, globally and per segment (as the marts rank)."""
    recent = plays[plays[TIME] >= last - pd.Timedelta(days=6)]

    def ranked(rows: pd.DataFrame) -> list[str]:
        counts = rows.groupby(ITEM)[USER].nunique().sort_values(ascending=False, kind="stable")
        return slot_ids[counts.index[:top].to_numpy()].tolist()

    by_segment = segment[recent[USER].to_numpy()]
    return {
        "window_days": 7,
        "global": ranked(recent),
        "by_segment": {str(s): ranked(recent[by_segment == s]) for s in np.unique(by_segment)},
    }
