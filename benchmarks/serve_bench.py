"""`slotrec bench serve`: a real `bentoml serve` process under the lobby's real mix, on loopback.

The world is built through the real pipeline (simulate → dbt → Feast → `run_training`, with
the epochs capped so the bundle trains in minutes), once per work directory; then the service
is started as operators start it and loaded by `wrk` (`benchmarks/wrk_load.py`; a Python
generator on the same two cores would take as much CPU per request as the service), each load
for a fixed number of seconds at each concurrency:

- the no-op endpoint: the ceiling of this server on this machine;
- `recommend` for three populations, reported apart: players the model never saw (cold),
  known players with nothing played today, and players mid-session. The last are the players
  the real-time layer exists for: before their load each gets a day of plays through `events`
  (`play_a_day`: three sessions, one past the one-hour threshold, one still running), and they
  ask with the slot they play as context;
- `events` one per call and in batches of 200 heartbeats from 200 players, each going on with
  their running session (fresh event ids every time);
- the lobby's mix: 9 `recommend` from mid-session players to 1 `events` batch, per endpoint.

Freshness is the time from an `events` call returning to the return of the first `recommend`
that reflects it (the slot just played is gone from the list); it includes that recommend's own
latency.
"""

from __future__ import annotations

import json
import os
import platform
import random
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import numpy as np

from benchmarks.wrk_load import Bodies, HeartbeatBatches, run_wrk_mix, wrk_available
from slotrec.core.atomic import write_json_atomic
from slotrec.core.settings import Settings, get_settings
from slotrec.service_process import start_service, stop_service, workers_for

Log = Callable[[str], None]


@dataclass
class ServeBenchConfig:
    """What the benchmark builds and how hard it pushes."""

    players: int = 100_000
    slots: int = 3_000
    days: int = 14
    seed: int = 11
    start: date = date(2026, 1, 1)
    epochs: int = 4
    work_dir: Path | None = None
    seconds: int = 15  # per population, endpoint and concurrency level
    concurrency: tuple[int, ...] = (1, 8, 32)
    events_concurrency: tuple[int, ...] = (1, 2, 8)
    mix_concurrency: tuple[int, ...] = (8, 32)
    workers: int = field(default_factory=workers_for)  # one per CPU core
    k: int = 10
    mid_session_players: int = 2_000  # players given a day of plays (as many idle, as many new)
    event_players: int = 20_000  # players whose sessions the `events` loads go on with
    freshness_trials: int = 20
    extra: dict[str, Any] = field(default_factory=dict)


def prepare_world(config: ServeBenchConfig, log: Log = print) -> Settings:
    """Build (or reuse) the world and a promoted bundle under the work directory."""
    from feature_repo import store as feature_store
    from slotrec import transform
    from slotrec.simulator import SimulationConfig, simulate_world
    from training.promotion import PromotionRegistry

    work = config.work_dir or Path(tempfile.mkdtemp(prefix="slotrec-bench-serve-"))
    settings = get_settings(data_dir=work)
    registry = PromotionRegistry(settings.layout.promoted_path)
    if registry.current is not None:
        log(f"reusing the world and bundle {registry.current} in {work}")
        return settings
    last = config.start + timedelta(days=config.days - 1)
    if not settings.layout.warehouse_path.exists():
        log(f"simulating {config.players:,} players x {config.slots:,} slots x {config.days} days")
        simulate_world(
            SimulationConfig(
                seed=config.seed,
                n_players=config.players,
                n_slots=config.slots,
                days=config.days,
                start_date=config.start,
            ),
            settings.layout,
        )
        log("dbt build")
        transform.build(settings, last, config.start)
        log("feast export + apply + materialize")
        feature_store.export_feature_tables(settings)
        store = feature_store.open_store(settings)
        feature_store.apply_definitions(store, settings)
        feature_store.materialize(store, settings, last)
    log(f"training NeuMF (at most {config.epochs} epochs)")
    tag = train_serving_bundle(settings, last, config.epochs)
    registry.promote(tag, {"promoted_by": "bench serve"})
    return settings


def train_serving_bundle(settings: Settings, as_of: date, epochs: int) -> str:
    """Train NeuMF on the warehouse and save a bundle with the daily retrain's own pieces.

    The daily retrain (`run_training`) also fits and evaluates three baselines over every test
    player, which on this world takes longer than the whole serving benchmark; serving needs
    none of it, so this trains NeuMF on the same split, builds the same index and metadata
    model (`assemble_bundle`) and saves the same `Bundle`, with NeuMF's validation metrics only.
    """
    from training.data import load_slotrec_data
    from training.model_store import model_store
    from training.models import NeuMF
    from training.pipeline import assemble_bundle, fit_batch_size, slotrec_train_config
    from training.trainer import train_model

    data = load_slotrec_data(settings, as_of, with_feast=False)
    split = data.split
    config = fit_batch_size(slotrec_train_config(epochs=epochs), len(split.train))
    result = train_model(
        "neumf", split.train, split.valid, config, n_users=split.n_users, n_items=split.n_items
    )
    assert isinstance(result.model, NeuMF)
    best = [e.valid for e in result.history if e.epoch == result.best_epoch and e.valid]
    valid = best[0] if best else {}
    metrics = {
        "validation": {"neumf": {"ndcg10": float(valid.get("ndcg10", 0.0))}},
        "training": {"best_epoch": result.best_epoch, "seconds": round(result.seconds, 1)},
        "note": "bench serve bundle: NeuMF only, no baselines evaluated",
    }
    bundle = assemble_bundle(result.model, data, metrics, config)
    return bundle.save(model_store(settings))


def start_server(settings: Settings, workers: int, log_path: Path) -> tuple[subprocess.Popen, str]:
    """`bentoml serve` on a free loopback port; returns the process and its base URL."""
    env = {
        "SLOTREC_DATA_DIR": str(settings.data_dir),
        "BENTOML_HOME": str(settings.layout.bentoml_home),
        "SLOTREC_SERVE_WORKERS": str(workers),
    }
    return start_service(env, log_path)


def _freshness(url: str, users: list[str], trials: int, k: int) -> dict[str, Any]:
    """Milliseconds from `events` returning to a `recommend` without the slot just played."""
    samples = []
    with httpx.Client(base_url=url, timeout=10) as client:
        for trial, user_id in enumerate(users[:trials]):
            listed = client.post("/recommend", json={"user_id": user_id, "k": k}).json()
            slot_id = listed["items"][0]["slot_id"]
            now = datetime.now(UTC)
            event = {
                "event_id": f"bench-fresh-{trial}-{now.timestamp()}",
                "user_id": user_id,
                "slot_id": slot_id,
                "session_id": f"bench-ses-{trial}-{now.timestamp()}",
                "event_type": "session_start",
                "occurred_at": now.isoformat(),
            }
            assert client.post("/events", json={"events": [event]}).status_code == 200
            returned = time.perf_counter()
            while time.perf_counter() - returned < 5:
                again = client.post("/recommend", json={"user_id": user_id, "k": k}).json()
                if slot_id not in {item["slot_id"] for item in again["items"]}:
                    break
            samples.append((time.perf_counter() - returned) * 1000)
    return {
        "trials": len(samples),
        "p50_ms": round(float(np.median(samples)), 2),
        "max_ms": round(float(np.max(samples)), 2),
    }


@dataclass(frozen=True)
class Populations:
    """Who asks: players the model never saw, known players idle today, players mid-session."""

    cold: list[str]
    known_idle: list[str]
    mid_session: list[str]


def split_populations(known: list[str], config: ServeBenchConfig) -> Populations:
    """Disjoint sets of players for each population (the idle ones never get an event)."""
    rng = random.Random(config.seed)
    chosen = rng.sample(known, min(len(known), 2 * config.mid_session_players))
    half = len(chosen) // 2
    return Populations(
        cold=[f"bench-new-{rng.randrange(10**9)}" for _ in range(config.mid_session_players)],
        known_idle=chosen[:half],
        mid_session=chosen[half:],
    )


@dataclass
class PlayedDay:
    """What `play_a_day` did: each player's running session, and how the upload went."""

    running: list[tuple[str, str, str]]  # (user_id, slot_id, session_id) of the current session
    events: int
    batches: int
    seconds: float
    crossed: int  # players whose second session crossed the play-time threshold


def play_a_day(
    url: str, players: list[str], slots: list[str], now: datetime, seed: int
) -> PlayedDay:
    """Give each player a realistic day so far, through `events` as a lobby backend would.

    Three sessions on three slots, heartbeats every five minutes: 25 minutes ended four hours
    ago, 70 minutes ended two hours ago (past the one-hour threshold: a next-slot suggestion
    is kept), and 15 minutes so far on the slot being played now. About 27 events a player,
    sent in batches of about 200, each player's in time order.
    """
    rng = random.Random(seed)
    per_player: list[list[dict[str, Any]]] = []
    running: list[tuple[str, str, str]] = []
    for n, user_id in enumerate(players):
        picked = rng.sample(slots, 3)
        shape = (
            (now - timedelta(hours=4, minutes=25), 25),
            (now - timedelta(hours=3, minutes=10), 70),
        )
        rows: list[dict[str, Any]] = []
        for i, (started, minutes) in enumerate((*shape, (now - timedelta(minutes=15), None))):
            session_id = f"bench-day-{int(now.timestamp())}-{n}-{i}"
            rows += _session_rows(user_id, picked[i], session_id, started, minutes, now)
            if minutes is None:
                running.append((user_id, picked[i], session_id))
        per_player.append(rows)
    batches: list[list[dict[str, Any]]] = []
    batch: list[dict[str, Any]] = []
    for rows in per_player:
        if batch and len(batch) + len(rows) > PLAY_A_DAY_BATCH:
            batches.append(batch)
            batch = []
        batch = batch + rows
    if batch:
        batches.append(batch)
    clock = time.perf_counter()
    crossed = 0
    with httpx.Client(base_url=url, timeout=60) as client:
        for body in batches:
            response = client.post("/events", json={"events": body})
            response.raise_for_status()
            answer = response.json()
            crossed += len(answer.get("suggestions", [])) + len(answer.get("reality_checks", []))
    return PlayedDay(
        running=running,
        events=sum(len(b) for b in batches),
        batches=len(batches),
        seconds=round(time.perf_counter() - clock, 2),
        crossed=crossed,
    )


PLAY_A_DAY_BATCH = 200
HEARTBEAT_SECONDS = 300


def _session_rows(
    user_id: str,
    slot_id: str,
    session_id: str,
    started: datetime,
    minutes: int | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """start, a heartbeat every five minutes, and an end unless the session still runs."""
    end = now if minutes is None else started + timedelta(minutes=minutes)
    rows: list[dict[str, Any]] = []

    def add(event_type: str, at: datetime, seconds: float = 0.0) -> None:
        rows.append(
            {
                "event_id": f"{session_id}-{len(rows)}",
                "user_id": user_id,
                "slot_id": slot_id,
                "session_id": session_id,
                "event_type": event_type,
                "occurred_at": at.isoformat(),
                "duration_seconds": seconds,
                "bet_amount": round(0.1 * seconds, 2),
                "win_amount": round(0.09 * seconds, 2),
            }
        )

    add("session_start", started)
    beat = started
    while beat + timedelta(seconds=HEARTBEAT_SECONDS) <= end:
        beat += timedelta(seconds=HEARTBEAT_SECONDS)
        add("heartbeat", beat, HEARTBEAT_SECONDS)
    if minutes is not None:
        add("session_end", end, (end - beat).total_seconds())
    return rows


def players_and_slots(settings: Settings) -> tuple[list[str], list[str]]:
    """Every known player and every slot of the warehouse, sorted (so a seed picks the same)."""
    with duckdb.connect(str(settings.layout.warehouse_path), read_only=True) as con:
        known = [r[0] for r in con.execute("select user_id from users order by 1").fetchall()]
        slots = [r[0] for r in con.execute("select slot_id from slots order by 1").fetchall()]
    return known, slots


def _recommend_bodies(users: list[str], k: int, context: dict[str, str] | None = None) -> Bodies:
    """`recommend` requests, one per player, sent in turn.

    Args:
        users: Who asks.
        k: How many slots each asks for.
        context: User → the slot they play now; with it, each asks as a player 15 minutes
            into a session on that slot.
    """
    return Bodies(
        "recommend",
        "/recommend",
        [
            {"user_id": u, "k": k}
            | ({"context": {"slot_id": context[u], "minutes_played": 15}} if context else {})
            for u in users
        ],
    )


@dataclass
class _Loads:
    """The `wrk` loads on one served process, and their figures by section and level.

    Attributes:
        url: The served process.
        config: Lengths, concurrency levels, `k` and the seed.
        log: Where progress lines go.
        result: "noop", "recommend", "events", "mix" → figures, filed as the loads run.
    """

    url: str
    config: ServeBenchConfig
    log: Log
    result: dict[str, Any] = field(
        default_factory=lambda: {"noop": {}, "recommend": {}, "events": {}, "mix": {}}
    )

    def measure(self, section: dict[str, Any], key: str, kinds: list[Any], c: int) -> None:
        """One load of `kinds` at concurrency `c`, filed as `section[key]` and logged.

        A single kind is filed as its own figures, a mix as the figures of each kind.
        """
        measured = run_wrk_mix(self.url, kinds, c, self.config.seconds)
        section[key] = measured if len(kinds) > 1 else measured[kinds[0].name]
        self.log(f"{key}: {section[key]}")

    def levels(
        self, section: dict[str, Any], kinds: list[Any], concurrency: tuple[int, ...]
    ) -> None:
        """`measure` the same load at each concurrency, filed as `c1`, `c8`, ..."""
        for c in concurrency:
            self.measure(section, f"c{c}", kinds, c)

    def idle_populations(self, people: Populations) -> None:
        """The no-op ceiling, then `recommend` for cold players and known players idle today."""
        concurrency = self.config.concurrency
        self.levels(self.result["noop"], [Bodies("noop", "/noop", [{}])], concurrency)
        for name in ("cold", "known_idle"):
            self.result["recommend"][name] = {}
            bodies = _recommend_bodies(getattr(people, name), self.config.k)
            self.levels(self.result["recommend"][name], [bodies], concurrency)

    def mid_session(
        self, people: Populations, slots: list[str], now: datetime
    ) -> tuple[PlayedDay, Bodies]:
        """Give the mid-session players a day of plays, then load `recommend` with their context.

        Returns:
            The day played, and the mid-session players' `recommend` requests (the lobby's
            mix sends them again).
        """
        self.log(f"giving {len(people.mid_session):,} players a day of plays through events")
        day = play_a_day(self.url, people.mid_session, slots, now, self.config.seed)
        self.log(f"day played: {day}")
        current = {user: slot for user, slot, _ in day.running}
        mid = _recommend_bodies(people.mid_session, self.config.k, current)
        self.result["recommend"]["mid_session"] = {}
        self.levels(self.result["recommend"]["mid_session"], [mid], self.config.concurrency)
        return day, mid

    def events(self, playing: list[tuple[str, str, str]], at: str) -> None:
        """`events` one heartbeat per call and in batches, the two taking turns at each level."""
        single = HeartbeatBatches("events", playing, 1, at, prefix="bench-one")
        batch = HeartbeatBatches("events", playing, EVENTS_BATCH, at, prefix="bench-batch")
        events = self.result["events"]
        events["single"] = {}
        events[f"batch{EVENTS_BATCH}"] = {}
        for c in self.config.events_concurrency:
            self.measure(events["single"], f"c{c}", [single], c)
            self.measure(events[f"batch{EVENTS_BATCH}"], f"c{c}", [batch], c)

    def mix(self, mid: Bodies, playing: list[tuple[str, str, str]], at: str) -> None:
        """The lobby's mix: 9 mid-session `recommend` to 1 `events` batch, at each level."""
        for c in self.config.mix_concurrency:
            lobby = [
                Bodies("recommend", mid.path, mid.bodies, weight=9),
                # event ids of their own per level: a redelivered id would be no work
                HeartbeatBatches("events", playing, EVENTS_BATCH, at, prefix=f"bench-mix{c}"),
            ]
            self.measure(self.result["mix"], f"c{c}", lobby, c)


@dataclass(frozen=True)
class _Served:
    """What the loads on one server measured, for the result JSON."""

    result: dict[str, Any]  # "noop", "recommend", "events", "mix": figures per level
    day: PlayedDay
    playing: list[tuple[str, str, str]]  # who sent the `events` loads' heartbeats
    fresh: dict[str, Any]


def _load_service(
    url: str,
    config: ServeBenchConfig,
    people: Populations,
    known: list[str],
    slots: list[str],
    log: Log,
) -> _Served:
    """Every load of the benchmark against the served process at `url`, in order.

    The order matters: the idle populations are measured before any player has played today,
    and the `events` loads go on with the sessions the mid-session players' day left running.
    """
    loads = _Loads(url, config, log)
    log(f"serving at {url}; warming up; load generator: wrk")
    warm = Bodies("recommend", "/recommend", [{"user_id": u, "k": config.k} for u in known[:300]])
    run_wrk_mix(url, [warm], 4, 2)
    loads.idle_populations(people)

    now = datetime.now(UTC).replace(microsecond=0)
    day, mid = loads.mid_session(people, slots, now)
    at = now.isoformat()
    playing = playing_players(day, people, known, slots, config)
    loads.events(playing, at)
    loads.mix(mid, playing, at)

    trials = config.freshness_trials
    fresh = _freshness(url, random.Random(config.seed).sample(known, trials), trials, config.k)
    log(f"freshness: {fresh}")
    return _Served(result=loads.result, day=day, playing=playing, fresh=fresh)


def _summary(config: ServeBenchConfig, settings: Settings, served: _Served) -> dict[str, Any]:
    """The result JSON: every load's figures, the targets, the run's setting and machine."""
    result, day, fresh = served.result, served.day, served.fresh
    return {
        **result,
        "mid_session_day": asdict(day) | {"running": len(day.running)},
        "events_players": len(served.playing),
        "freshness_ms": fresh["p50_ms"],
        "freshness": fresh,
        "targets": _targets(result, fresh),
        "load_generator": "wrk",
        "config": {
            **{k: v for k, v in asdict(config).items() if k not in ("work_dir", "start", "extra")},
            "start": config.start.isoformat(),
            "world": "simulated; dbt + Feast; NeuMF on the marts (epochs capped, no baselines)",
        },
        "bundle": json.loads(settings.layout.promoted_path.read_text())["current"],
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average": list(os.getloadavg()),
        },
    }


def run_serve_bench(config: ServeBenchConfig, out: Path, log: Log = print) -> dict[str, Any]:
    """Prepare the world, serve it, load it population by population, write `out`, return it.

    One run, one server: the no-op ceiling; `recommend` for cold players, known players idle
    today and players mid-session (a day of plays sent through `events` first); `events` one
    per call and in batches of 200 heartbeats from 200 players; the lobby's mix of 9
    `recommend` (mid-session players) to 1 `events` batch; each at the configured
    concurrencies; and the freshness of the real-time layer.
    """
    settings = prepare_world(config, log)
    known, slots = players_and_slots(settings)
    people = split_populations(known, config)
    if not wrk_available():
        raise RuntimeError("bench serve needs wrk for its mixed loads (apt-get install wrk)")
    forget_live_state(settings)
    process, url = start_server(settings, config.workers, settings.data_dir / "bench_serve.log")
    try:
        served = _load_service(url, config, people, known, slots, log)
    finally:
        stop_service(process)
    summary = _summary(config, settings, served)
    write_json_atomic(out, summary)
    return summary


EVENTS_BATCH = 200


def playing_players(
    day: PlayedDay,
    people: Populations,
    known: list[str],
    slots: list[str],
    config: ServeBenchConfig,
) -> list[tuple[str, str, str]]:
    """Who sends the heartbeats of the `events` loads: a lobby's worth of players in a session.

    The mid-session players go on with their running session; other known players (never
    the idle or cold ones) each have one running too, opened by their first heartbeat. So many
    that no player is sent a heartbeat more often than every few seconds: with only the
    mid-session players, each got five a second and all crossed the one-hour threshold in the
    same second of a run, a burst of suggestions no lobby sends.
    """
    rng = random.Random(config.seed + 1)
    taken = set(people.known_idle) | set(people.mid_session)
    others = [u for u in known if u not in taken]
    others = rng.sample(others, min(len(others), config.event_players - len(day.running)))
    tag = int(time.time())
    return day.running + [
        (user, rng.choice(slots), f"bench-live-{tag}-{i}") for i, user in enumerate(others)
    ]


def forget_live_state(settings: Settings) -> None:
    """Empty the online store's live-state tables, so every run starts from the same state.

    A reused work directory would otherwise carry the last run's plays: its mid-session players
    would have crossed the threshold already, and the next run would measure less work.
    """
    path = settings.layout.feast_online_path
    if not path.exists():
        return
    with sqlite3.connect(path) as con:
        tables = [
            row[0]
            for row in con.execute(
                "select name from sqlite_master where type = 'table' and name like '%user_live_%'"
            )
        ]
        for table in tables:
            con.execute(f'delete from "{table}"')


def _targets(result: dict[str, Any], fresh: dict[str, Any]) -> dict[str, bool]:
    """The serving targets, judged on this run's own figures."""
    noop8 = result["noop"].get("c8", {})
    mid8 = result["recommend"].get("mid_session", {}).get("c8", {})
    batches = result["events"].get(f"batch{EVENTS_BATCH}", {})
    singles = result["events"].get("single", {})

    def levels(section: dict[str, Any]) -> list[dict[str, Any]]:
        return list(section.values())

    errors = [
        stats["errors"]
        for group in (result["noop"], *result["recommend"].values(), *result["events"].values())
        for stats in group.values()
    ] + [m[name]["errors"] for m in result["mix"].values() for name in ("recommend", "events")]
    return {
        "mid_session_c8_rps_ge_60pct_noop": bool(
            mid8 and noop8 and mid8["rps"] >= 0.6 * noop8["rps"]
        ),
        "mid_session_c8_p99_le_20ms": bool(mid8 and mid8["p99_ms"] <= 20),
        "events_batch_ge_10k_per_s_p99_le_50ms": any(
            s["events_per_s"] >= 10_000 and s["p99_ms"] <= 50 for s in levels(batches)
        ),
        "events_single_ge_2k_per_s": any(s["events_per_s"] >= 2_000 for s in levels(singles)),
        "freshness_under_1s": fresh["max_ms"] < 1000,
        "zero_errors": not any(errors),
    }
