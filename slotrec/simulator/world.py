"""Simulate a whole world and write it where the pipeline (and evaluation) will look.

Players are streamed chunk by chunk; within a chunk, day by day; within a day, block by block.
Events are never held for more than one chunk and one day (plus what spills into the next day);
beyond that, memory holds only the catalogue and each player's registry entry and tastes (a few
hundred bytes a player). Each (chunk, day) becomes one file
`raw/events/day=YYYY-MM-DD/part-<chunk>.parquet`; every file is written atomically, but a run
that dies half way leaves a half-written world: re-run it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from slotrec.core.schema import REJECT_REASONS, SLOT_ID, USER_ID
from slotrec.core.settings import DataLayout
from slotrec.simulator.catalogue import SlotCatalogue, SlotTruth, build_catalogue, slot_ids
from slotrec.simulator.config import US_PER_DAY, US_PER_SECOND, SimulationConfig, Stage, derive_rng
from slotrec.simulator.dirt import add_dirt, delay_some, disorder
from slotrec.simulator.escalation import plan_escalation
from slotrec.simulator.play_dirt import PLAY_DEFECTS, add_play_dirt
from slotrec.simulator.players import (
    PlayerPopulation,
    PlayerTruth,
    build_onboarding,
    build_players,
    user_ids,
)
from slotrec.simulator.sessions import (
    K_CANDIDATES,
    MIN_SESSION_SECONDS,
    BlockCandidates,
    EventBatch,
    block_candidates,
    block_range,
    expand_sessions,
    lobby_cdf,
    plan_block_day,
)
from slotrec.simulator.timeline import (
    ESCALATION,
    ORDINARY,
    Sessions,
    cut_at,
    free_from,
    schedule,
)
from slotrec.simulator.writer import (
    AtomicParquetWriter,
    events_to_table,
    write_json_atomic,
    write_parquet_atomic,
)

ProgressCallback = Callable[[int, int, str], None]
"""Called as `progress(done, total, message)` after each unit of work (a chunk-day)."""

TRUTH_TOP_K: Final = 50
AFFINITY_TOP_SCHEMA: Final = pa.schema(
    [
        pa.field(USER_ID, pa.string()),
        pa.field("rank", pa.int16()),
        pa.field(SLOT_ID, pa.string()),
        pa.field("affinity", pa.float64()),
    ]
)
_PART_NAME: Final = re.compile(r"part-(\d{5})\.parquet")


@dataclass(frozen=True)
class SimulationSummary:
    """What a simulation wrote, for the CLI to print and tests to check."""

    total_players: int
    total_slots: int
    days: list[date]
    delivered_rows: int
    clean_rows: int
    late_rows: int
    rejected: dict[str, int]
    event_files: int
    elapsed_seconds: float
    rows_per_day: dict[str, int] = field(default_factory=dict)


@dataclass
class _BlockState:
    """What a block carries from one day to the next."""

    candidates: BlockCandidates
    last_slot: np.ndarray  # [B] int64
    free_from_us: np.ndarray  # [B] int64: when each player may start their next session
    spill: EventBatch  # rows of yesterday's sessions that happen after midnight
    late: EventBatch  # rows that happened yesterday but arrive today


def simulate_world(
    config: SimulationConfig,
    layout: DataLayout,
    progress: ProgressCallback | None = None,
) -> SimulationSummary:
    """Simulate a world and write catalogue, players, onboarding, events and hidden truth.

    Args:
        config: The world's parameters; the same config always writes the same data.
        layout: Where to write (`raw_events_day_dir`, `slot_catalogue_path`, `players_path`,
            `onboarding_path`, `truth_dir`).
        progress: Optional `progress(done, total, message)` callback, called per chunk-day;
            e.g. with rich: ``lambda d, t, m: bar.update(task, completed=d, total=t,
            description=m)``.

    Returns:
        Row counts and timings of what was written.
    """
    started = time.perf_counter()
    total_steps = config.n_chunks * config.days + 1
    report = progress or (lambda done, total, message: None)

    catalogue, players = _write_population(config, layout)
    report(1, total_steps, "catalogue, players and onboarding written")
    manifests = _write_events(
        config, layout, catalogue, players, lambda done, message: report(done, total_steps, message)
    )

    for day, manifest in manifests.items():
        write_json_atomic(manifest, _manifest_path(layout, config.day_list[day]))
    # The config is the whole recipe: keeping it beside the truth makes any world reproducible.
    write_json_atomic(config.model_dump(mode="json"), layout.truth_dir / "config.json")
    _remove_stale_parts(config, layout)
    return _summarise(config, manifests, started)


def _write_population(
    config: SimulationConfig, layout: DataLayout
) -> tuple[SlotCatalogue, PlayerPopulation]:
    """Build and write the catalogue, the players, their onboarding and their hidden truth.

    Args:
        config: The world's parameters.
        layout: Where to write.

    Returns:
        The catalogue and the population, for the events to be simulated from.
    """
    catalogue = build_catalogue(config)
    players = build_players(config)
    write_parquet_atomic(catalogue.to_table(), layout.slot_catalogue_path)
    write_parquet_atomic(players.to_table(), layout.players_path)
    write_parquet_atomic(build_onboarding(config, players), layout.onboarding_path)
    write_parquet_atomic(players.truth_table(), layout.truth_dir / "players.parquet")
    write_parquet_atomic(catalogue.truth.to_table(), layout.truth_dir / "slots.parquet")
    return catalogue, players


def _write_events(
    config: SimulationConfig,
    layout: DataLayout,
    catalogue: SlotCatalogue,
    players: PlayerPopulation,
    report: Callable[[int, str], None],
) -> dict[int, dict[str, Any]]:
    """Stream the players chunk by chunk, day by day, into one event file per chunk-day.

    Also writes each player's true top slots (`truth/affinity_top.parquet`) as the chunks'
    blocks are ranked.

    Args:
        config: The world's parameters.
        layout: Where to write.
        catalogue: The catalogue.
        players: The population.
        report: Called as `report(done, message)` after each chunk-day.

    Returns:
        Each day's manifest (row counts), by day number.
    """
    manifests = {day: _empty_manifest() for day in range(config.days)}
    all_slot_ids = slot_ids(np.arange(catalogue.n_slots))  # [S] looked up, never reformatted
    all_user_ids = user_ids(np.arange(players.n_players))  # [U]
    top_path = layout.truth_dir / "affinity_top.parquet"
    with AtomicParquetWriter(top_path, AFFINITY_TOP_SCHEMA) as top_writer:
        for chunk in range(config.n_chunks):
            first = chunk * config.blocks_per_chunk
            blocks = range(first, min(first + config.blocks_per_chunk, config.n_blocks))
            states = {
                block: _start_block(config, players, catalogue, block, top_writer, all_slot_ids)
                for block in blocks
            }
            for day in range(config.days):
                batch = _deliver_chunk_day(config, players, catalogue, states, day, manifests[day])
                table = events_to_table(batch, all_user_ids, all_slot_ids)
                path = layout.raw_events_day_dir(config.day_list[day]) / f"part-{chunk:05d}.parquet"
                write_parquet_atomic(table, path)
                done = 1 + chunk * config.days + day + 1
                report(
                    done, f"chunk {chunk + 1}/{config.n_chunks}, {config.day_list[day].isoformat()}"
                )
    return manifests


def _deliver_chunk_day(
    config: SimulationConfig,
    players: PlayerPopulation,
    catalogue: SlotCatalogue,
    states: dict[int, _BlockState],
    day: int,
    manifest: dict[str, Any],
) -> EventBatch:
    """What a chunk's blocks deliver on a day, block by block (see `_deliver_block_day`).

    Args:
        config: The world's parameters.
        players: The population.
        catalogue: The catalogue.
        states: The chunk's block states, by block number, in block order.
        day: Simulated day (0-based).
        manifest: The day's manifest, counted into.

    Returns:
        The delivered rows of every block, in block order.
    """
    cdf = lobby_cdf(config, catalogue, day)
    batches = [
        _deliver_block_day(config, players, catalogue, state, cdf, block, day, manifest)
        for block, state in states.items()
    ]
    return EventBatch.concat(batches)


def _summarise(
    config: SimulationConfig, manifests: dict[int, dict[str, Any]], started: float
) -> SimulationSummary:
    """Totals of the days' manifests, for the CLI and tests.

    Args:
        config: The world's parameters.
        manifests: Each day's manifest, by day number.
        started: `time.perf_counter()` when the simulation began.

    Returns:
        The summary.
    """
    return SimulationSummary(
        total_players=config.total_players,
        total_slots=config.total_slots,
        days=config.day_list,
        delivered_rows=sum(m["delivered_rows"] for m in manifests.values()),
        clean_rows=sum(m["clean_rows"] for m in manifests.values()),
        late_rows=sum(m["late_rows"] for m in manifests.values()),
        rejected={r: sum(m["rejected"][r] for m in manifests.values()) for r in REJECT_REASONS},
        event_files=config.n_chunks * config.days,
        elapsed_seconds=time.perf_counter() - started,
        rows_per_day={
            config.day_list[d].isoformat(): m["delivered_rows"] for d, m in manifests.items()
        },
    )


def _start_block(
    config: SimulationConfig,
    players: PlayerPopulation,
    catalogue: SlotCatalogue,
    block: int,
    top_writer: AtomicParquetWriter,
    all_slot_ids: pa.Array,
) -> _BlockState:
    """Rank a block's slots by true affinity (recording the truth top list) and reset its state."""
    candidates = block_candidates(config, players, catalogue, block, max(K_CANDIDATES, TRUTH_TOP_K))
    top_writer.write(_affinity_top_table(config, block, candidates, all_slot_ids))
    lo, hi = block_range(config, block)
    return _BlockState(
        candidates=candidates,
        last_slot=np.full(hi - lo, -1, dtype=np.int64),
        free_from_us=np.full(hi - lo, np.iinfo(np.int64).min, dtype=np.int64),
        spill=EventBatch.empty(),
        late=EventBatch.empty(),
    )


def _deliver_block_day(
    config: SimulationConfig,
    players: PlayerPopulation,
    catalogue: SlotCatalogue,
    state: _BlockState,
    cdf: np.ndarray,
    block: int,
    day: int,
    manifest: dict[str, Any],
) -> EventBatch:
    """Simulate one block-day, route rows to today or tomorrow, add dirt, and count."""
    day_start = config.day_start_us(day)
    fresh = _play_block_day(config, players, catalogue, state, cdf, block, day)
    after_midnight = fresh.occurred_us >= day_start + US_PER_DAY
    happened_today = EventBatch.concat([state.spill, fresh.take(~after_midnight)])
    state.spill = fresh.take(after_midnight)

    delivery_rng = derive_rng(config.seed, Stage.DELIVERY, day, block)
    # Nothing is held back on the last day: there is no next delivery to carry it.
    late_rate = config.late_rate if day < config.days - 1 else 0.0
    on_time, late = delay_some(happened_today, delivery_rng, late_rate)
    clean = EventBatch.concat([state.late, on_time])
    state.late = late

    dirty, rejected = add_dirt(
        clean,
        derive_rng(config.seed, Stage.DIRT, day, block),
        config.dirt_rate,
        day,
        block,
        day_start,
    )
    play_dirt, play_rejected, planted = add_play_dirt(
        clean,
        derive_rng(config.seed, Stage.PLAY_DIRT, day, block),
        config.dirt_rate,
        day,
        block,
        config.heartbeat_interval_seconds,
    )
    delivered = disorder(EventBatch.concat([clean, dirty, play_dirt]), delivery_rng, day_start)

    manifest["delivered_rows"] += len(delivered)
    manifest["clean_rows"] += len(clean)
    manifest["late_rows"] += int((clean.occurred_us < day_start).sum())
    for reason in REJECT_REASONS:
        manifest["rejected"][reason] += rejected[reason] + play_rejected[reason]
    for kind, count in planted.items():
        manifest["play_dirt"][kind] += count
    return delivered


def _play_block_day(
    config: SimulationConfig,
    players: PlayerPopulation,
    catalogue: SlotCatalogue,
    state: _BlockState,
    cdf: np.ndarray,
    block: int,
    day: int,
) -> EventBatch:
    """The clean events of the sessions a block starts on a day, on each player's one timeline."""
    lo, _ = block_range(config, block)
    day_end = config.day_start_us(day) + US_PER_DAY
    session_rng = derive_rng(config.seed, Stage.SESSIONS, day, block)
    risk_rng = derive_rng(config.seed, Stage.RISK, day, block)
    planned = Sessions.concat(
        [
            plan_block_day(
                config, players, catalogue, state.candidates, cdf, block, day, state.last_slot,
                session_rng,
            ),
            plan_escalation(config, players, catalogue, state.candidates, block, day, risk_rng),
        ]
    )  # fmt: skip
    played = schedule(planned, state.free_from_us, lo)
    played = played.take(played.start_us < day_end)  # pushed past midnight: does not happen
    if day == config.days - 1:  # nothing may spill past the simulated window
        played = cut_at(played, day_end - US_PER_SECOND, MIN_SESSION_SECONDS)
    state.free_from_us = free_from(played, state.free_from_us, lo)
    if len(played):
        last = np.flatnonzero(np.r_[played.user[1:] != played.user[:-1], True])
        state.last_slot[played.user[last] - lo] = played.slot[last]
    return EventBatch.concat(
        [
            expand_sessions(
                config, players, catalogue, rng, cdf, block, day, played.take(played.kind == kind)
            )
            for kind, rng in ((ORDINARY, session_rng), (ESCALATION, risk_rng))
        ]
    )


def _affinity_top_table(
    config: SimulationConfig, block: int, candidates: BlockCandidates, slot_id_array: pa.Array
) -> pa.Table:
    """Long table of each player's best TRUTH_TOP_K slots: user_id, rank, slot_id, affinity."""
    lo, hi = block_range(config, block)
    slots = candidates.slots[:, :TRUTH_TOP_K]  # [B, k]
    valid = slots >= 0
    user_idx, rank = np.nonzero(valid)
    return pa.table(
        {
            USER_ID: user_ids(np.arange(lo, hi)).take(pa.array(user_idx)),
            "rank": pa.array((rank + 1).astype(np.int16)),
            SLOT_ID: slot_id_array.take(pa.array(slots[valid])),
            "affinity": pa.array(candidates.affinity[:, :TRUTH_TOP_K][valid].astype(np.float64)),
        },
        schema=AFFINITY_TOP_SCHEMA,
    )


def _empty_manifest() -> dict[str, Any]:
    return {
        "delivered_rows": 0,
        "clean_rows": 0,
        "late_rows": 0,
        "rejected": dict.fromkeys(REJECT_REASONS, 0),
        # rows of each kind of play dirt (play_dirt.PLAY_DEFECTS names each one's reason)
        "play_dirt": dict.fromkeys(PLAY_DEFECTS, 0),
    }


def _manifest_path(layout: DataLayout, day: date) -> Path:
    return layout.truth_dir / "dirt" / f"day={day.isoformat()}.json"


def _remove_stale_parts(config: SimulationConfig, layout: DataLayout) -> None:
    """Delete part files a previous, larger run left in this run's day folders.

    Only files named like the simulator's own output are touched, so events written into the
    same folders by other producers (serving feedback) survive.
    """
    for day in config.day_list:
        folder = layout.raw_events_day_dir(day)
        for path in folder.glob("part-*.parquet"):
            match = _PART_NAME.fullmatch(path.name)
            if match and int(match.group(1)) >= config.n_chunks:
                path.unlink()


def load_truth(layout: DataLayout) -> tuple[PlayerTruth, SlotTruth]:
    """Read the hidden tastes and slot facts written by `simulate_world`.

    Args:
        layout: The data layout the world was written to.

    Returns:
        (players, slots), ready for `true_affinity`; indices follow the id numbers
        ("u0000001" is player 0, "s000001" slot 0).
    """
    players = pq.read_table(layout.truth_dir / "players.parquet")
    slots = pq.read_table(layout.truth_dir / "slots.parquet")
    return PlayerTruth.from_table(players), SlotTruth.from_table(slots)
