"""`slotrec demo --closed-loop`: several simulated days, end to end, against the real service.

1. Simulate the world's history and load it (backfill, then one daily run that trains and
   promotes the first bundle), exactly as the plain demo does.
2. Start `bentoml serve` as a subprocess on a free loopback port, on a simulated clock
   (`slotrec.core.clock`) and with the demo's A/B experiment (`DEMO_EXPERIMENTS`).
3. Each closed-loop day: simulated players use the lobby (`slotrec.simulator.lobby`); on the
   new-game day the operator launches games (catalogue file + `POST /slots`); the service's raw
   sink files what it served and what the players did into that day's raw folder; then the daily
   run for the day (dbt, Feast, retrain, gate, promote) tells the service to reload.
4. At the end: per-day bundles, the A/B readout against the true winner (the simulator knows
   every player's true affinity, so it knows the expected play-through of every served list),
   the new games' stage, requests and fallbacks. The service is always stopped.

The closed-loop days are the last days before today (UTC): the service accepts events up to
seven days old and none from the future, so the simulated days must be real past days.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx
import numpy as np

from slotrec import service_process
from slotrec.core.atomic import write_json_atomic
from slotrec.core.settings import Settings, get_settings
from slotrec.simulator.lobby import (
    LobbyClient,
    LobbyDay,
    LobbyPlan,
    LobbyTruth,
    NewGame,
    ServedList,
    run_lobby_day,
    wait_for_served_rows,
)

Log = Callable[[str], None]

NOT_READY_GRACE_SECONDS: Final = 20.0  # a live but unready service gets this long to load
MAX_CLOSED_LOOP_DAYS: Final = 6  # events older than seven days are refused by the service
DEMO_EXPERIMENT_NAME: Final = "lobby-variety-v1"
# Control: the default strategy. "wide-lobby" forces variety: at most one slot per theme and per
# provider in a list of ten. Players' tastes are theme-heavy, so the simulator knows which arm
# is truly better; whether the readout finds it from the logs alone is what the demo shows.
DEMO_EXPERIMENTS: Final = {
    "experiments": [
        {
            "name": DEMO_EXPERIMENT_NAME,
            "enabled": True,
            "variants": [
                {"name": "control", "weight": 0.5},
                {"name": "wide-lobby", "weight": 0.5, "params": {"diversity_max_share": 0.1}},
            ],
        }
    ]
}


@dataclass(frozen=True)
class ClosedLoopConfig:
    """The world, the closed-loop days and the lobby traffic of one demo."""

    players: int = 2_000
    slots: int = 200
    history_days: int = 7
    days: int = 3
    seed: int = 7
    dirt_rate: float = 0.02
    lobby: LobbyPlan = field(default_factory=LobbyPlan)
    new_game_day: int = 2  # 1-based closed-loop day on which the new games launch
    new_game_exposure_cap: int = 100  # exploration impressions before a new game is reviewed
    # plays per exploration impression to graduate. The exploration tile sits mid-list, where
    # few players look: the demo's best launch is played after about 5% of its impressions,
    # the average one after 2-3%, the dud after about 1%. At 100 impressions that is a few
    # plays each, so the bar (above the service's default 2%) separates them only roughly.
    new_game_min_play_rate: float = 0.03
    service_start_seconds: float = 240.0
    with_monitoring: bool = True
    today: date | None = None  # default: today (UTC)

    def loop_days(self) -> list[date]:
        """The closed-loop days: the `days` days before today."""
        today = self.today or datetime.now(UTC).date()
        return [today - timedelta(days=self.days - i) for i in range(self.days)]

    def first_history_day(self) -> date:
        return self.loop_days()[0] - timedelta(days=self.history_days)


@dataclass
class DayOutcome:
    """One closed-loop day: the lobby's traffic and the daily run after it."""

    lobby: dict[str, Any]
    served_rows: int
    bundle: str | None
    promoted: bool
    gate: str
    reload: str
    interactions: int
    daily_seconds: float


@dataclass
class ClosedLoopResult:
    """What the demo prints and the tests check."""

    data_dir: Path
    days: list[DayOutcome] = field(default_factory=list)
    ab: dict[str, Any] = field(default_factory=dict)
    new_games: list[dict[str, Any]] = field(default_factory=list)
    service: dict[str, Any] = field(default_factory=dict)
    wall_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "data_dir": str(self.data_dir),
            "days": [d.__dict__ for d in self.days],
            "ab": self.ab,
            "new_games": self.new_games,
            "service": self.service,
            "wall_seconds": round(self.wall_seconds, 1),
        }


def demo_settings(data_dir: Path, admin_token: str) -> Settings:
    """The settings the demo's daily runs and service share."""
    folder = data_dir / "closed_loop"
    experiments = folder / "experiments.json"
    write_json_atomic(experiments, DEMO_EXPERIMENTS)
    return get_settings(
        data_dir=data_dir,
        experiments_path=experiments,
        admin_token=admin_token,
    )


def run_closed_loop(
    data_dir: Path,
    config: ClosedLoopConfig,
    log: Log = print,
    prepare: Callable[[Settings, ClosedLoopConfig], None] | None = None,
) -> ClosedLoopResult:
    """Run the whole closed-loop demo (see the module docstring).

    Args:
        data_dir: Where everything is written (a fresh folder is best).
        config: World size, days, traffic.
        log: One line per stage and per simulated day.
        prepare: Builds the world's history and the first promoted bundle; default
            `prepare_history` (simulate, backfill, first daily run).

    Returns:
        The per-day outcomes, the A/B verdict against the truth, new games, service counters.

    Raises:
        ValueError: a bad configuration (named).
        RuntimeError: the service did not start, or a daily run failed (named).
    """
    _check_config(config)
    started = time.perf_counter()
    data_dir = data_dir.resolve()
    fresh_data_dir(data_dir)
    token = secrets.token_hex(16)
    settings = demo_settings(data_dir, token)
    _load_history(settings, config, log, prepare)
    result = ClosedLoopResult(data_dir=data_dir)
    _run_against_service(settings, token, config, result, log)
    result.wall_seconds = time.perf_counter() - started
    write_json_atomic(data_dir / "closed_loop" / "summary.json", result.to_dict())
    return result


def _check_config(config: ClosedLoopConfig) -> None:
    """Refuse a closed loop the service or the simulator cannot run.

    Args:
        config: The demo's configuration.

    Raises:
        ValueError: too many or too few closed-loop days, or too little history (named).
    """
    if not 1 <= config.days <= MAX_CLOSED_LOOP_DAYS:
        raise ValueError(
            f"--days must be between 1 and {MAX_CLOSED_LOOP_DAYS} for the closed loop "
            f"(the service refuses events over 7 days old), got {config.days}"
        )
    if config.history_days < 2:
        raise ValueError(f"the world needs at least 2 days of history, got {config.history_days}")


def _load_history(
    settings: Settings,
    config: ClosedLoopConfig,
    log: Log,
    prepare: Callable[[Settings, ClosedLoopConfig], None] | None,
) -> None:
    """Build the world's history and make sure it promoted a bundle for the service to serve.

    Args:
        settings: The demo's settings (`demo_settings`).
        config: World size and days.
        log: Takes the one line that announces the history.
        prepare: Builds the history; None for `prepare_history`.

    Raises:
        RuntimeError: the history run failed, or promoted no bundle.
    """
    from training.promotion import PromotionRegistry

    first = config.first_history_day()
    log(
        f"history: {config.players:,} players x {config.slots:,} slots, {first} .. "
        f"{config.loop_days()[0] - timedelta(days=1)} (simulate, backfill, first daily run)"
    )
    (prepare or prepare_history)(settings, config)
    if PromotionRegistry(settings.layout.promoted_path).current is None:
        raise RuntimeError(
            "no bundle was promoted by the history run (see its report under "
            f"{settings.layout.runs_dir}): the closed loop needs a model to serve; a larger "
            "world (--players, --slots) gives the first bundle more to learn from"
        )


@dataclass
class _LoopState:
    """What the closed-loop days share while the service runs; the days add to it."""

    settings: Settings  # the demo's settings, as the service got them
    run_settings: Settings  # the same, plus the service's URL, for the daily runs to reload it
    client: LobbyClient
    clock_path: Path
    truth: LobbyTruth  # grows by the new games on their launch day
    served: list[ServedList] = field(default_factory=list)
    games: list[NewGame] = field(default_factory=list)


def _run_against_service(
    settings: Settings, token: str, config: ClosedLoopConfig, result: ClosedLoopResult, log: Log
) -> None:
    """Start the service on the simulated clock, run the closed-loop days, read them out.

    The service is stopped whatever happens once it has started.

    Args:
        settings: The demo's settings (`demo_settings`), after the history is loaded.
        token: The service's admin token (new-game registration needs it).
        config: Days, traffic and new-game settings.
        result: Gets the per-day outcomes, the A/B readout, new games and service counters.
        log: One line per stage and per simulated day.

    Raises:
        RuntimeError: the service did not start, a new game was refused, or a daily run failed.
    """
    from slotrec.core.clock import set_simulated_now

    truth = LobbyTruth.load(settings.layout)
    clock_path = result.data_dir / "closed_loop" / "clock.json"
    days = config.loop_days()
    set_simulated_now(clock_path, datetime(*days[0].timetuple()[:3], 8, tzinfo=UTC))
    process, url = start_service(settings, clock_path, config, result.data_dir / "closed_loop")
    log(f"service: bentoml serve at {url} (pid {process.pid})")
    client = LobbyClient(url, admin_token=token)
    try:
        loop = _LoopState(
            settings=settings,
            run_settings=settings.model_copy(update={"service_url": url}),
            client=client,
            clock_path=clock_path,
            truth=truth,
        )
        for number, day in enumerate(days, start=1):
            result.days.append(_loop_day(loop, number, day, config, log))
        result.ab = ab_against_truth(loop.run_settings, days[-1], loop.served)
        result.new_games = new_game_outcomes(settings, loop.truth, loop.games, config, loop.served)
        result.service = service_counters(client)
    finally:
        client.close()
        stop_service(process)
        log("service stopped")


def _loop_day(
    loop: _LoopState, number: int, day: date, config: ClosedLoopConfig, log: Log
) -> DayOutcome:
    """One closed-loop day: launch the new games if it is their day, lobby traffic, daily run.

    Args:
        loop: The shared state; gets the day's served lists (and the new games, on their day).
        number: The day's 1-based number in the closed loop.
        day: The simulated day.
        config: Traffic and new-game settings.
        log: One line per stage.

    Returns:
        The day's lobby traffic and daily-run outcome.
    """
    from slotrec.core.clock import set_simulated_now

    if number == config.new_game_day:
        loop.games = launch_new_games(loop.settings, loop.client, loop.truth, day, config.seed, log)
        loop.truth = loop.truth.with_new_games(loop.games)
    lobby = run_lobby_day(
        loop.client,
        loop.truth,
        day,
        config.lobby,
        set_clock=lambda at: set_simulated_now(loop.clock_path, at),
        progress=log,
    )
    loop.served.extend(lobby.served)
    if lobby.error_messages:
        log(f"{day}: service errors: {lobby.error_messages}")
    return _daily(loop.run_settings, day, lobby, config, log)


def fresh_data_dir(data_dir: Path) -> None:
    """Start from nothing: an earlier closed loop's files would mix into this one's days.

    An absent or empty folder is used as it is; a folder an earlier closed-loop demo wrote (it
    has `closed_loop/`) is emptied; anything else is refused, never deleted.
    """
    if not data_dir.exists() or not any(data_dir.iterdir()):
        return
    if not (data_dir / "closed_loop").is_dir():
        raise ValueError(
            f"{data_dir} holds data that no closed-loop demo wrote; the closed loop needs an "
            "empty --data-dir (or one an earlier closed-loop demo used, which it replaces)"
        )
    for child in data_dir.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def prepare_history(settings: Settings, config: ClosedLoopConfig) -> None:
    """Simulate the history days, backfill all but the last, run the last as a daily run."""
    from slotrec.daily import StepFailed, run_daily
    from slotrec.simulator import SimulationConfig, simulate_world

    first = config.first_history_day()
    last = first + timedelta(days=config.history_days - 1)
    world = SimulationConfig(
        seed=config.seed,
        n_players=config.players,
        n_slots=config.slots,
        days=config.history_days,
        start_date=first,
        dirt_rate=config.dirt_rate,
    )
    simulate_world(world, settings.layout)
    try:
        run_daily(settings, last - timedelta(days=1), first, with_training=False)
        run_daily(settings, last, with_monitoring=config.with_monitoring)
    except StepFailed as exc:
        raise RuntimeError(f"history run failed at step '{exc.step}': {exc}") from exc


def _daily(
    settings: Settings, day: date, lobby: LobbyDay, config: ClosedLoopConfig, log: Log
) -> DayOutcome:
    """Wait for the day's served files, then run the daily pipeline for the day."""
    from slotrec.daily import StepFailed, run_daily

    # every list served is k impressions; every event sent is one row (suggestions add more)
    expected = sum(len(s.slot_ids) for s in lobby.served) + lobby.events_sent
    rows = wait_for_served_rows(settings.layout, day, expected)
    if rows < expected:
        log(f"{day}: only {rows} of {expected} served rows reached the raw files in time")
    clock = time.perf_counter()
    try:
        report, _ = run_daily(settings, day, with_monitoring=config.with_monitoring)
    except StepFailed as exc:
        raise RuntimeError(f"daily run {day} failed at step '{exc.step}': {exc}") from exc
    training = report.training
    outcome = DayOutcome(
        lobby=lobby.summary(),
        served_rows=rows,
        bundle=training.get("bundle"),
        promoted=bool(training.get("promoted")),
        gate=str(training.get("gate", {}).get("reason", "")),
        reload=str(report.service_reload.get("status", "not_called")),
        interactions=int(report.marts.get("interactions", 0)),
        daily_seconds=round(time.perf_counter() - clock, 1),
    )
    summary = lobby.summary()
    log(
        f"day {day}: {summary['players']} players, {summary['requests']} lists, "
        f"{summary['plays']} plays, {summary['errors']} errors, {summary['fallbacks']} fallbacks "
        f"({summary['wall_seconds']} s); {rows} served rows filed; daily run "
        f"{outcome.daily_seconds} s: bundle {outcome.bundle} "
        f"{'promoted' if outcome.promoted else 'not promoted'}, reload {outcome.reload}"
    )
    return outcome


# --- the service process ------------------------------------------------------------------------


def start_service(
    settings: Settings, clock_path: Path, config: ClosedLoopConfig, log_dir: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """`bentoml serve` on a free loopback port, on the simulated clock; waits for `/readyz`."""
    token = settings.admin_token.get_secret_value() if settings.admin_token else ""
    env = {
        "SLOTREC_DATA_DIR": str(settings.data_dir),
        "SLOTREC_EXPERIMENTS_PATH": str(settings.experiments_path),
        "SLOTREC_ADMIN_TOKEN": token,
        "SLOTREC_NEW_GAME_EXPOSURE_CAP": str(config.new_game_exposure_cap),
        "SLOTREC_NEW_GAME_MIN_PLAY_RATE": str(config.new_game_min_play_rate),
        # short, so a day's files are complete moments after its last request
        "SLOTREC_RAW_SINK_FLUSH_SECONDS": "0.5",
        "SLOTREC_CLOCK_FILE": str(clock_path),
        "SLOTREC_SERVE_WORKERS": "1",
        # BentoML's own home (its configuration and scratch files) under the data directory
        "BENTOML_HOME": str(settings.layout.bentoml_home),
    }
    return service_process.start_service(
        env,
        log_dir / "serve.log",
        start_seconds=config.service_start_seconds,
        not_ready_grace_seconds=NOT_READY_GRACE_SECONDS,
    )


stop_service = service_process.stop_service


_METRIC = re.compile(r"^(slotrec_\w+)\{([^}]*)\}\s+([0-9.eE+-]+)$")


def service_counters(client: LobbyClient) -> dict[str, Any]:
    """The service's own request and fallback counters, from `/metrics`."""
    text = httpx.get(f"{client.url}/metrics", timeout=10).text
    requests: dict[str, float] = {}
    fallbacks: dict[str, float] = {}
    for line in text.splitlines():
        match = _METRIC.match(line)
        if not match:
            continue
        name, labels, value = match.groups()
        if name == "slotrec_requests_total":
            key = ",".join(re.findall(r'"([^"]*)"', labels))
            requests[key] = requests.get(key, 0.0) + float(value)
        elif name == "slotrec_fallbacks_total":
            key = ",".join(re.findall(r'"([^"]*)"', labels))
            fallbacks[key] = fallbacks.get(key, 0.0) + float(value)
    return {
        "requests": {k: int(v) for k, v in sorted(requests.items())},
        "fallbacks": {k: int(v) for k, v in sorted(fallbacks.items())},
    }


# --- new games --------------------------------------------------------------------------------


def design_new_games(truth: LobbyTruth, seed: int, explorers: np.ndarray) -> list[NewGame]:
    """Three launches: one made for the exploration segment's favourite theme, one average, one
    dud (their least liked theme, poor quality). Hidden quality and style are drawn here, the
    public metadata follows from them; ids continue the world's catalogue."""
    from slotrec.core.schema import THEMES, VOLATILITY_LEVELS
    from slotrec.simulator.catalogue import PROVIDERS, slot_id_of
    from slotrec.simulator.config import LATENT_DIM

    rng = np.random.default_rng([seed, 900_001])
    pref = truth.players.truth.theme_pref[explorers]
    taste = (pref / pref.max(axis=1, keepdims=True)).mean(axis=0)  # [T]
    order = np.argsort(-taste)
    ideal = float(np.median(truth.players.truth.volatility_pref[explorers]))
    level = int(np.clip(round(ideal), 0, len(VOLATILITY_LEVELS) - 1))
    plan = [
        ("Launch Day Legends", int(order[0]), level, 0.95, 0),
        ("Second Wave", int(order[len(order) // 2]), level, 0.45, 1),
        ("Quiet Debut", int(order[-1]), 3 - level, 0.02, 2),
    ]
    # the ids the catalogue would give its next releases, so the truth files can hold them
    first = truth.slots.n_slots
    return [
        NewGame(
            slot_id=slot_id_of(first + i),
            name=name,
            provider=PROVIDERS[provider],
            theme=THEMES[theme],
            volatility=VOLATILITY_LEVELS[volatility],
            quality=quality,
            latent=rng.standard_normal(LATENT_DIM).astype(np.float32),
        )
        for i, (name, theme, volatility, quality, provider) in enumerate(plan)
    ]


def user_number(user_id: str) -> int:
    """The simulator's player index of an external id ("u0000001" is 0)."""
    return int(user_id[1:]) - 1


def exploration_segment(truth: LobbyTruth, user_share: float) -> np.ndarray:
    """Player indices the service puts in its exploration segment (same hash as the service)."""
    from bentos.recommender.exploration import in_exploration_segment
    from slotrec.simulator.players import user_id_of

    return np.array(
        [
            u
            for u in range(truth.players.n_players)
            if in_exploration_segment(user_id_of(u), user_share)
        ],
        dtype=np.int64,
    )


def launch_new_games(
    settings: Settings,
    client: LobbyClient,
    truth: LobbyTruth,
    day: date,
    seed: int,
    log: Log,
) -> list[NewGame]:
    """Add the demo's new games to the catalogue file and register them with the service."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from slotrec.core.schema import SLOT_CATALOGUE_SCHEMA
    from slotrec.simulator.writer import write_parquet_atomic

    games = design_new_games(
        truth, seed, exploration_segment(truth, settings.exploration_user_share)
    )
    released = datetime(day.year, day.month, day.day, 7, tzinfo=UTC)
    path = settings.layout.slot_catalogue_path
    catalogue = pq.read_table(path)
    known = set(catalogue.column("slot_id").to_pylist())
    rows = [
        {
            **{k: v for k, v in g.registration().items() if k != "jurisdictions"},
            "jurisdictions": ",".join(g.jurisdictions),
            "released_at": released,
        }
        for g in games
        if g.slot_id not in known
    ]
    if rows:
        added = pa.Table.from_pylist(rows, schema=SLOT_CATALOGUE_SCHEMA)
        write_parquet_atomic(pa.concat_tables([catalogue, added]), path)
    # the hidden truth of the launches joins the world's truth (evaluation reads it by id)
    write_parquet_atomic(
        truth.with_new_games(games).slots.to_table(), settings.layout.truth_dir / "slots.parquet"
    )
    for game in games:
        response = client.register_slot(game.registration())
        if response.status_code != 200:
            raise RuntimeError(f"registering {game.slot_id} failed: {response.text[:300]}")
        body = response.json()
        log(
            f"{day}: new game {game.slot_id} '{game.name}' ({game.theme}, {game.volatility}) "
            f"registered: {body['status']}, in index {body['in_index']}, "
            f"exploration {body['exploration']}"
        )
    return games


def new_game_outcomes(
    settings: Settings,
    truth: LobbyTruth,
    games: list[NewGame],
    config: ClosedLoopConfig,
    served: list[ServedList],
) -> list[dict[str, Any]]:
    """Each launched game: the registry's impressions, plays and stage, and its true appeal
    (to the exploration segment on average, and to the players the lobby showed it to)."""
    from bentos.new_games import NewGameRegistry
    from slotrec.core.policies.graduation import stage

    if not games:
        return []
    exposure = NewGameRegistry(settings.layout.new_games_registry_path).exposure()
    explorers = exploration_segment(truth, settings.exploration_user_share)
    sample = explorers[:: max(1, explorers.size // 500)]
    catalogue_ids = [f"s{i + 1:06d}" for i in range(truth.config.total_slots)]
    catalogue_mean = float(np.mean([truth.affinity(int(u), catalogue_ids).mean() for u in sample]))
    out = []
    for game in games:
        impressions, plays = exposure.get(game.slot_id, (0, 0))
        appeal = float(np.mean([truth.affinity(int(u), [game.slot_id])[0] for u in sample]))
        shown = [
            float(truth.affinity(user_number(s.user_id), [game.slot_id])[0])
            for s in served
            if game.slot_id in s.slot_ids
        ]
        lobby_plays = sum(s.clicked == game.slot_id for s in served)
        out.append(
            {
                "slot_id": game.slot_id,
                "name": game.name,
                "theme": game.theme,
                "true_affinity_explorers": round(appeal, 3),
                "catalogue_mean_affinity_explorers": round(catalogue_mean, 3),
                "lists_shown": len(shown),
                "true_affinity_shown": round(float(np.mean(shown)), 3) if shown else None,
                "lobby_plays": lobby_plays,
                "impressions": impressions,
                "plays": plays,
                "stage": stage(
                    impressions, plays, config.new_game_exposure_cap, config.new_game_min_play_rate
                ),
            }
        )
    return out


# --- the A/B readout against the truth --------------------------------------------------------


def true_winner(served: list[ServedList], metric: str = "play_through") -> dict[str, Any]:
    """Per variant, the true expected value of the lists it served; the variant with the higher
    mean is the true winner (on `metric`: `play_through` or `minutes`)."""
    by_variant: dict[str, list[float]] = {}
    for item in served:
        value = item.value.minutes if metric == "minutes" else item.value.play_through
        by_variant.setdefault(item.variant, []).append(value)
    means = {v: float(np.mean(x)) for v, x in sorted(by_variant.items())}
    if not means:
        return {"metric": metric, "means": {}, "winner": None}
    winner = max(means, key=lambda v: means[v])
    return {
        "metric": metric,
        "means": {v: round(m, 4) for v, m in means.items()},
        "lists": {v: len(x) for v, x in sorted(by_variant.items())},
        "winner": winner,
    }


def ab_against_truth(settings: Settings, as_of: date, served: list[ServedList]) -> dict[str, Any]:
    """The daily run's A/B readout of the last day (cumulative) next to the true winner."""
    from monitoring.ab_daily import daily_ab_readout

    folder = settings.layout.root / "closed_loop" / "ab"
    readout = daily_ab_readout(settings, as_of, folder)
    # every click is played in the lobby's choice model, so click-through is play-through
    metric = "minutes" if readout.get("primary_metric") == "minutes" else "play_through"
    truth = true_winner(served, metric)
    truth_minutes = true_winner(served, "minutes")
    winner = readout.get("winner")
    if readout.get("status") != "ok":
        agreement = "no readout"
    elif winner is None:
        agreement = "readout undecided"
    else:
        agreement = "agree" if winner == truth["winner"] else "disagree"
    return {
        "experiment": readout.get("experiment"),
        "status": readout.get("status"),
        "verdict": readout.get("verdict") or readout.get("note"),
        "readout_winner": winner,
        "exposures": readout.get("exposures"),
        "estimates": {
            v: {m: round(float(e["value"]), 4) for m, e in metrics.items()}
            for v, metrics in (readout.get("estimates") or {}).items()
        },
        "true": truth,
        "true_minutes": truth_minutes,
        "agreement": agreement,
    }


def print_closed_loop(result: ClosedLoopResult, console: Any) -> None:
    """The demo's closing summary on a rich console."""
    from rich.table import Table

    table = Table(title="closed-loop days", show_edge=False)
    for column in (
        "day", "lists", "plays", "errors", "fallbacks", "served rows", "interactions",
        "promoted", "reload", "daily s",
    ):  # fmt: skip
        table.add_column(column, justify="right")
    for d in result.days:
        lobby = d.lobby
        table.add_row(
            lobby["day"],
            str(lobby["requests"]),
            str(lobby["plays"]),
            str(lobby["errors"]),
            str(lobby["fallbacks"]),
            str(d.served_rows),
            str(d.interactions),
            "yes" if d.promoted else "no",
            d.reload,
            f"{d.daily_seconds:.0f}",
        )
    console.print(table)
    for d in result.days:
        verdict = "promoted" if d.promoted else "not promoted"
        console.print(f"{d.lobby['day']}: bundle {d.bundle} {verdict} ({d.gate})", soft_wrap=True)
    ab = result.ab
    console.rule(f"A/B test {ab.get('experiment')}")
    console.print(f"readout: {ab.get('verdict')}", soft_wrap=True)
    for variant, metrics in ab.get("estimates", {}).items():
        console.print(f"  {variant}: {metrics} (exposures {ab.get('exposures', {}).get(variant)})")
    true = ab.get("true", {})
    console.print(
        f"truth ({true.get('metric')}, expected per list from true affinities): "
        f"{true.get('means')} → true winner [bold]{true.get('winner')}[/bold]; "
        f"expected minutes per list {ab.get('true_minutes', {}).get('means')}",
        soft_wrap=True,
    )
    agreement = ab.get("agreement")
    console.print(f"readout winner: {ab.get('readout_winner')} → [bold]{agreement}[/bold]")
    if result.new_games:
        games = Table(title="new games", show_edge=False)
        for column in (
            "slot", "theme", "true affinity", "lists shown", "lobby plays", "impressions",
            "plays", "stage",
        ):  # fmt: skip
            games.add_column(column, justify="right")
        for g in result.new_games:
            games.add_row(
                g["slot_id"],
                g["theme"],
                f"{g['true_affinity_explorers']:.3f}",
                str(g["lists_shown"]),
                str(g["lobby_plays"]),
                str(g["impressions"]),
                str(g["plays"]),
                g["stage"],
            )
        console.print(games)
        mean = result.new_games[0]["catalogue_mean_affinity_explorers"]
        console.print(
            "true affinity: mean over the exploration segment (the catalogue's mean: "
            f"{mean}); impressions, plays, stage: the service's new-game registry",
            soft_wrap=True,
        )
    console.print(f"service counters: {result.service}")
    console.print(f"closed loop finished in {result.wall_seconds:.0f} s; data in {result.data_dir}")
