"""The closed loop: simulated players use the real running service's lobby, day by day.

Every simulated day a sample of players opens the lobby one or more times. Each visit is a real
HTTP `POST /recommend` to a running `bentoml serve` process; the player then scans the returned
list top-down (a cascade with position bias) and plays at most one slot, chosen by their hidden
true affinity; the click and the play (session start, heartbeats, session end, with the
recommendation's `request_id`) go back through `POST /events`, in batches. The service files
them, and its own impressions, into the raw event files, so the next daily run learns from
what the lobby showed and what the players did.

The choice model (`examination`, `first_click_probabilities`, `expected_outcome`) is the
simulator's ground truth for lists: because it knows each player's true affinity, it gives the
expected play-through and minutes of any list the service served, which is what the demo
compares the A/B readout against. Session lengths follow the same law as the simulator's own
sessions (`sessions.py`): longer for slots the player likes more.

Simulated time: every event carries the simulated day's time, and the service stamps its
impressions with the simulated clock the driver moves forward (`slotrec.core.clock`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import httpx
import numpy as np

from slotrec.core.settings import DataLayout
from slotrec.simulator.affinity import true_affinity
from slotrec.simulator.catalogue import PROVIDERS, SlotTruth, build_catalogue
from slotrec.simulator.config import SimulationConfig
from slotrec.simulator.players import PlayerPopulation, build_players, user_id_of
from slotrec.simulator.sessions import MAX_SESSION_SECONDS, MIN_SESSION_SECONDS

# Chance that a player who examines a tile clicks it, per unit of true affinity: a scan of a
# perfect list (affinity 1 everywhere) still ends without a click now and then.
CLICK_SCALE: Final = 0.5
# Session length, as in sessions.py: median x exp(LIKE_GAIN x (affinity - LIKE_PIVOT)) x
# lognormal(0, LENGTH_SIGMA).
LIKE_GAIN: Final = 2.5
LIKE_PIVOT: Final = 0.55
LENGTH_SIGMA: Final = 0.9
GAP_MEDIAN_SECONDS: Final = 1_800.0  # between two lobby visits of one player
FIRST_VISIT_HOURS: Final = (8.0, 20.0)  # simulated UTC hours the first visit falls in
LAST_VISIT_HOUR: Final = 23.5  # no visit starts later; sessions end before midnight
EVENTS_PER_CALL: Final = 200  # the `events` endpoint's limit per call
# The service's simulated clock moves in steps of this much simulated time (each step is one
# small file write): impressions are stamped at most this long before their visit.
CLOCK_STEP: Final = timedelta(minutes=15)


def examination(k: int) -> np.ndarray:
    """Probability that a player looks at each of `k` positions: 1 / log2(rank + 2)."""
    return 1.0 / np.log2(np.arange(k, dtype=np.float64) + 2.0)


def first_click_probabilities(affinity: np.ndarray) -> np.ndarray:
    """P(the player's one click lands on position r), for a list of true affinities.

    The cascade: the player scans top-down, examines position r with `examination(k)[r]`, clicks
    an examined tile with probability CLICK_SCALE x affinity, and stops at the first click.
    P(no click at all) is 1 minus the sum.
    """
    a = np.clip(np.asarray(affinity, dtype=np.float64), 0.0, 1.0)
    q = examination(a.size) * CLICK_SCALE * a
    survive = np.concatenate([[1.0], np.cumprod(1.0 - q)[:-1]])
    return survive * q


def expected_seconds(median_seconds: float, affinity: np.ndarray) -> np.ndarray:
    """Mean session length (s) of a player on slots of these affinities (clip ignored)."""
    a = np.asarray(affinity, dtype=np.float64)
    return median_seconds * np.exp(LIKE_GAIN * (a - LIKE_PIVOT) + 0.5 * LENGTH_SIGMA**2)


@dataclass(frozen=True)
class ListValue:
    """The true expected outcome of showing one list to one player."""

    play_through: float  # P(a tile is clicked and played)
    minutes: float  # expected minutes played


def expected_outcome(affinity: np.ndarray, median_seconds: float) -> ListValue:
    """The true value of a served list: expected play-through and minutes (see the cascade)."""
    p = first_click_probabilities(affinity)
    minutes = float((p * expected_seconds(median_seconds, affinity)).sum() / 60.0)
    return ListValue(play_through=float(p.sum()), minutes=minutes)


def choose(affinity: np.ndarray, rng: np.random.Generator) -> int | None:
    """Draw the position the player clicks (None: they leave without playing)."""
    p = first_click_probabilities(affinity)
    u = float(rng.random())
    hit = int(np.searchsorted(np.cumsum(p), u, side="right"))
    return hit if hit < p.size else None


def session_seconds(median_seconds: float, affinity: float, rng: np.random.Generator) -> int:
    """One session's length in seconds, drawn as the simulator draws its sessions."""
    median = median_seconds * math.exp(LIKE_GAIN * (affinity - LIKE_PIVOT))
    seconds = math.ceil(median * float(rng.lognormal(0.0, LENGTH_SIGMA)))
    return int(min(max(seconds, MIN_SESSION_SECONDS), MAX_SESSION_SECONDS))


# --- the world's hidden truth, as the lobby needs it -----------------------------------------


@dataclass(frozen=True)
class NewGame:
    """A game launched during the closed loop: public metadata plus hidden quality and style."""

    slot_id: str
    name: str
    provider: str
    theme: str
    volatility: str
    quality: float
    latent: np.ndarray  # [LATENT_DIM]
    rtp: float = 0.962
    max_win_multiplier: float = 5_000.0
    has_bonus_buy: bool = False
    jurisdictions: tuple[str, ...] = ("GB", "MT", "SE", "DE", "CA", "NL", "ES", "IT")

    def registration(self) -> dict[str, Any]:
        """The body of `POST /slots` for this game."""
        return {
            "slot_id": self.slot_id,
            "name": self.name,
            "provider": self.provider,
            "theme": self.theme,
            "volatility": self.volatility,
            "rtp": self.rtp,
            "max_win_multiplier": self.max_win_multiplier,
            "has_bonus_buy": self.has_bonus_buy,
            "is_active": True,
            "jurisdictions": list(self.jurisdictions),
        }


@dataclass(frozen=True)
class LobbyTruth:
    """The players and slots of a simulated world, with everything hidden, rebuilt from its
    recipe (`truth/config.json`): the simulator is deterministic, so this is the same world."""

    config: SimulationConfig
    players: PlayerPopulation
    slots: SlotTruth
    slot_index: dict[str, int]

    @classmethod
    def load(cls, layout: DataLayout) -> LobbyTruth:
        """Rebuild the world that `simulate_world` wrote under `layout`."""
        path = layout.truth_dir / "config.json"
        if not path.exists():
            raise FileNotFoundError(f"no simulated world at {layout.root}: {path} is missing")
        config = SimulationConfig.model_validate(json.loads(path.read_text()))
        catalogue = build_catalogue(config)
        index = {f"s{i + 1:06d}": i for i in range(catalogue.n_slots)}
        return cls(config, build_players(config), catalogue.truth, index)

    def with_new_games(self, games: list[NewGame]) -> LobbyTruth:
        """The same world with `games` appended to the slots (their truth from their metadata)."""
        from slotrec.core.schema import THEMES, VOLATILITY_LEVELS

        if not games:
            return self
        n = self.slots.n_slots
        added = SlotTruth(
            theme=np.array([THEMES.index(g.theme) for g in games], dtype=np.int8),
            volatility=np.array(
                [VOLATILITY_LEVELS.index(g.volatility) for g in games], dtype=np.int8
            ),
            provider=np.array([PROVIDERS.index(g.provider) for g in games], dtype=np.int16),
            quality=np.array([g.quality for g in games], dtype=np.float32),
            latent=np.stack([g.latent for g in games]).astype(np.float32),
        )
        slots = SlotTruth(
            *(
                np.concatenate([getattr(self.slots, f), getattr(added, f)])
                for f in ("theme", "volatility", "provider", "quality", "latent")
            )
        )
        index = {**self.slot_index, **{g.slot_id: n + i for i, g in enumerate(games)}}
        return replace(self, slots=slots, slot_index=index)

    def affinity(self, user_idx: int, slot_ids: list[str]) -> np.ndarray:
        """True affinity of one player for each slot id (0 for a slot the world never had)."""
        known = np.array([s in self.slot_index for s in slot_ids], dtype=bool)
        slots = np.array([self.slot_index.get(s, 0) for s in slot_ids], dtype=np.int64)
        users = np.full(slots.shape, user_idx, dtype=np.int64)
        values = true_affinity(self.players.truth, self.slots, users, slots)
        return np.where(known, values, 0.0)

    def list_value(self, user_idx: int, slot_ids: list[str]) -> ListValue:
        """The true expected outcome of showing `slot_ids`, in order, to the player."""
        return expected_outcome(
            self.affinity(user_idx, slot_ids),
            float(self.players.median_session_seconds[user_idx]),
        )


# --- one simulated day against the service ----------------------------------------------------


@dataclass
class ServedList:
    """One lobby visit: what the service served and what the player did."""

    request_id: str
    user_id: str
    variant: str
    slot_ids: list[str]
    value: ListValue
    fallback: bool
    clicked: str | None = None
    seconds: int = 0


@dataclass
class LobbyDay:
    """What one simulated day of lobby traffic did."""

    day: date
    players: int = 0
    requests: int = 0
    errors: int = 0
    fallbacks: int = 0
    plays: int = 0
    play_seconds: int = 0
    events_sent: int = 0
    event_calls: int = 0
    wall_seconds: float = 0.0
    served: list[ServedList] = field(default_factory=list)
    error_messages: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The counts, without the per-visit lists."""
        return {
            "day": self.day.isoformat(),
            "players": self.players,
            "requests": self.requests,
            "errors": self.errors,
            "fallbacks": self.fallbacks,
            "plays": self.plays,
            "play_minutes": round(self.play_seconds / 60.0, 1),
            "events_sent": self.events_sent,
            "wall_seconds": round(self.wall_seconds, 1),
        }


class LobbyClient:
    """The lobby's HTTP side: `recommend`, `events` and `slots` on a running service."""

    def __init__(self, url: str, admin_token: str | None = None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(base_url=self.url, timeout=timeout)
        self._admin = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def recommend(self, user_id: str, k: int) -> httpx.Response:
        """`POST /recommend` for one player."""
        return self._client.post("/recommend", json={"user_id": user_id, "k": k})

    def events(self, events: list[dict[str, Any]]) -> httpx.Response:
        """`POST /events` with at most EVENTS_PER_CALL events."""
        return self._client.post("/events", json={"events": events})

    def register_slot(self, registration: dict[str, Any]) -> httpx.Response:
        """`POST /slots` (admin)."""
        return self._client.post("/slots", json=registration, headers=self._admin)


@dataclass(frozen=True)
class LobbyPlan:
    """How much traffic a simulated day carries."""

    players_per_day: int = 300
    max_visits: int = 3
    k: int = 10
    seed: int = 0


class _EventBuffer:
    """Collects events and posts them in calls of EVENTS_PER_CALL."""

    def __init__(self, client: LobbyClient, result: LobbyDay) -> None:
        self.client = client
        self.result = result
        self.rows: list[dict[str, Any]] = []

    def add(self, rows: list[dict[str, Any]]) -> None:
        self.rows.extend(rows)
        while len(self.rows) >= EVENTS_PER_CALL:
            self._send(self.rows[:EVENTS_PER_CALL])
            del self.rows[:EVENTS_PER_CALL]

    def flush(self) -> None:
        if self.rows:
            self._send(self.rows)
            self.rows = []

    def _send(self, rows: list[dict[str, Any]]) -> None:
        self.result.event_calls += 1
        try:
            response = self.client.events(rows)
        except httpx.HTTPError as exc:
            self._error(f"events: {type(exc).__name__}: {exc}")
            return
        if response.status_code != 200:
            self._error(f"events: HTTP {response.status_code}: {response.text[:300]}")
            return
        self.result.events_sent += len(rows)

    def _error(self, message: str) -> None:
        self.result.errors += 1
        if len(self.result.error_messages) < 5:
            self.result.error_messages.append(message)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def play_events(
    visit: ServedList, session_id: str, started: datetime, heartbeat_seconds: int, base_bet: float
) -> list[dict[str, Any]]:
    """The raw events of one clicked tile: click, session start, heartbeats, session end."""
    assert visit.clicked is not None
    prefix = f"{session_id}-"
    common = {"user_id": visit.user_id, "slot_id": visit.clicked, "request_id": visit.request_id}
    rows: list[dict[str, Any]] = [
        {
            **common,
            "event_id": prefix + "click",
            "event_type": "click",
            "occurred_at": _iso(started - timedelta(seconds=5)),
        },
        {
            **common,
            "event_id": prefix + "start",
            "session_id": session_id,
            "event_type": "session_start",
            "occurred_at": _iso(started),
        },
    ]
    elapsed = 0
    beat = 0
    while visit.seconds - elapsed > heartbeat_seconds:
        elapsed += heartbeat_seconds
        beat += 1
        rows.append(_play_row(common, prefix, f"hb{beat}", session_id, "heartbeat", started,
                              elapsed, heartbeat_seconds, base_bet))  # fmt: skip
    rows.append(_play_row(common, prefix, "end", session_id, "session_end", started,
                          visit.seconds, visit.seconds - elapsed, base_bet))  # fmt: skip
    return rows


def _play_row(
    common: dict[str, Any],
    prefix: str,
    suffix: str,
    session_id: str,
    event_type: str,
    started: datetime,
    at_seconds: int,
    duration: int,
    base_bet: float,
) -> dict[str, Any]:
    stake = round(duration / 4.0 * base_bet, 2)  # one spin every four seconds, as simulated
    return {
        **common,
        "event_id": prefix + suffix,
        "session_id": session_id,
        "event_type": event_type,
        "occurred_at": _iso(started + timedelta(seconds=at_seconds)),
        "duration_seconds": float(duration),
        "bet_amount": stake,
        "win_amount": round(stake * 0.96, 2),
    }


def pick_players(truth: LobbyTruth, day: date, n: int, rng: np.random.Generator) -> np.ndarray:
    """Today's lobby visitors: `n` registered players, drawn by how often they play."""
    day_start_us = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 10**6
    eligible = np.flatnonzero(truth.players.registered_us < day_start_us)
    weight = truth.players.daily_play_prob[eligible].astype(np.float64)
    n = min(n, int(eligible.size))
    keys = np.log(weight + 1e-12) + rng.gumbel(size=eligible.size)  # weighted, no replacement
    return np.sort(eligible[np.argsort(-keys)[:n]])


def run_lobby_day(
    client: LobbyClient,
    truth: LobbyTruth,
    day: date,
    plan: LobbyPlan,
    set_clock: Callable[[datetime], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> LobbyDay:
    """Simulate one day of lobby traffic against the running service.

    Visits happen in rounds (every player's first visit, then every second visit, ...), each
    round in simulated time order; the service's simulated clock follows the visits in steps
    of CLOCK_STEP.

    Args:
        client: The service.
        truth: The world (with any launched new games).
        day: The simulated UTC day; every event happens on it.
        plan: Players, visits, list length, seed.
        set_clock: Moves the service's simulated clock (`slotrec.core.clock.set_simulated_now`).
        progress: Called with one line per round.

    Returns:
        Counts, and every served list with the player's choice.
    """
    started_wall = time.perf_counter()
    result = LobbyDay(day=day)
    run = _DayRun(
        client=client,
        truth=truth,
        day=day,
        k=plan.k,
        rng=np.random.default_rng([plan.seed, day.toordinal()]),
        result=result,
        buffer=_EventBuffer(client, result),
        midnight=datetime(day.year, day.month, day.day, tzinfo=UTC),
    )
    players, visits, next_at = _first_visits(run, plan)
    result.players = int(players.size)
    for round_no in range(plan.max_visits):
        due = sorted(
            (at, u)
            for u, at in next_at.items()
            if visits[np.searchsorted(players, u)] > round_no
            and at < run.midnight + timedelta(hours=LAST_VISIT_HOUR)
        )
        if not due:
            break
        _play_round(run, due, next_at, set_clock)
        run.buffer.flush()
        if progress is not None:
            progress(
                f"{day} round {round_no + 1}: {len(due)} visits, {result.requests} lists served, "
                f"{result.plays} plays, {result.errors} errors"
            )
    result.wall_seconds = time.perf_counter() - started_wall
    return result


@dataclass
class _DayRun:
    """What every visit of one simulated lobby day shares."""

    client: LobbyClient
    truth: LobbyTruth
    day: date
    k: int  # list length asked for
    rng: np.random.Generator  # the day's one generator: every draw, in visit order
    result: LobbyDay
    buffer: _EventBuffer
    midnight: datetime  # start of the simulated day (UTC)
    serial: int = 0  # visits so far, numbering the day's sessions


def _first_visits(
    run: _DayRun, plan: LobbyPlan
) -> tuple[np.ndarray, np.ndarray, dict[int, datetime]]:
    """Today's visitors, how many visits each makes, and when their first one is due.

    Args:
        run: The day.
        plan: Players per day and visits per player.

    Returns:
        `(players, visits, next_at)`: sorted player indices, their visit counts, and each
        player's first visit time.
    """
    players = pick_players(run.truth, run.day, plan.players_per_day, run.rng)
    pop = run.truth.players
    visits = 1 + np.minimum(run.rng.poisson(pop.extra_sessions[players]), plan.max_visits - 1)
    low, high = FIRST_VISIT_HOURS
    next_at = {
        int(u): run.midnight + timedelta(hours=float(h))
        for u, h in zip(players, run.rng.uniform(low, high, players.size), strict=True)
    }
    return players, visits, next_at


def _play_round(
    run: _DayRun,
    due: list[tuple[datetime, int]],
    next_at: dict[int, datetime],
    set_clock: Callable[[datetime], None] | None,
) -> None:
    """Play one round of visits in time order, moving the service's clock along.

    Args:
        run: The day.
        due: `(time, player)` of this round's visits, in time order.
        next_at: Each player's next visit time; updated for the players who visited.
        set_clock: Moves the service's simulated clock, if given.
    """
    clock_at: datetime | None = None
    for at, u in due:
        if set_clock is not None and (clock_at is None or at - clock_at >= CLOCK_STEP):
            set_clock(at)  # the service stamps this visit's impressions near its time
            clock_at = at
        run.serial += 1
        following = _play_visit(run, u, at)
        if following is not None:
            next_at[u] = following


def _play_visit(run: _DayRun, u: int, at: datetime) -> datetime | None:
    """One visit: ask for a list, let the player choose, and send the play if there is one.

    Args:
        run: The day.
        u: The player's index.
        at: When the player opens the lobby.

    Returns:
        When the player's next visit is due; None when the service did not answer (the
        player tries again at the same time next round).
    """
    visit = _visit(run.client, run.truth, u, run.k, run.result)
    if visit is None:
        return None
    pop = run.truth.players
    pick = choose(run.truth.affinity(u, visit.slot_ids), run.rng)
    gap = timedelta(seconds=120 + float(run.rng.lognormal(math.log(GAP_MEDIAN_SECONDS), 0.8)))
    if pick is None:
        return at + gap
    visit.clicked = visit.slot_ids[pick]
    affinity = float(run.truth.affinity(u, [visit.clicked])[0])
    seconds = session_seconds(float(pop.median_session_seconds[u]), affinity, run.rng)
    # the session must end before midnight: this day's file holds it whole
    room = (run.midnight + timedelta(days=1) - at).total_seconds() - 60
    visit.seconds = int(max(MIN_SESSION_SECONDS, min(seconds, room)))
    run.result.plays += 1
    run.result.play_seconds += visit.seconds
    session_id = f"cl-{run.day:%Y%m%d}-{run.serial:06d}"
    start = at + timedelta(seconds=30)
    heartbeat = run.truth.config.heartbeat_interval_seconds
    run.buffer.add(play_events(visit, session_id, start, heartbeat, float(pop.base_bet[u])))
    return start + timedelta(seconds=visit.seconds) + gap


def _visit(
    client: LobbyClient, truth: LobbyTruth, user_idx: int, k: int, result: LobbyDay
) -> ServedList | None:
    """One `recommend` call; None (and an error counted) when the service did not answer."""
    user_id = user_id_of(user_idx)
    result.requests += 1
    try:
        response = client.recommend(user_id, k)
    except httpx.HTTPError as exc:
        _count_error(result, f"recommend {user_id}: {type(exc).__name__}: {exc}")
        return None
    if response.status_code != 200:
        _count_error(result, f"recommend {user_id}: HTTP {response.status_code}: {response.text}")
        return None
    body = response.json()
    slot_ids = [item["slot_id"] for item in body["items"]]
    result.fallbacks += bool(body.get("fallback"))
    served = ServedList(
        request_id=body["request_id"],
        user_id=user_id,
        variant=str(body.get("variant")),
        slot_ids=slot_ids,
        value=truth.list_value(user_idx, slot_ids),
        fallback=bool(body.get("fallback")),
    )
    result.served.append(served)
    return served


def _count_error(result: LobbyDay, message: str) -> None:
    result.errors += 1
    if len(result.error_messages) < 5:
        result.error_messages.append(message[:300])


def served_files_rows(layout: DataLayout, day: date) -> int:
    """Rows in the service's raw files (`served-*.parquet`) of a delivery day."""
    import pyarrow.parquet as pq

    folder = layout.raw_events_day_dir(day)
    return sum(pq.read_metadata(p).num_rows for p in sorted(folder.glob("served-*.parquet")))


def wait_for_served_rows(
    layout: DataLayout, day: date, expected: int, timeout: float = 30.0
) -> int:
    """Wait until the service's sink has written at least `expected` rows for `day`."""
    deadline = time.monotonic() + timeout
    rows = served_files_rows(layout, day)
    while rows < expected and time.monotonic() < deadline:
        time.sleep(0.25)
        rows = served_files_rows(layout, day)
    return rows
