"""`slotrec bench soak`: a long, bounded load on a real `bentoml serve`, with faults injected.

The world and the promoted bundle come from `serve_bench.prepare_world` (a work directory that
already has a bundle is reused). A second bundle is trained on the same world beforehand (fewer
epochs, not promoted; its tag is kept in `soak_bundles.json` in the work directory for the next
run), and a corrupt one (the first bundle's files with a garbage weights file) is written into
the model store for the run and deleted after it.

Then, against one served process on loopback:

1. the maximum throughput: a closed loop at concurrency 8 for a few seconds, 9 `recommend` : 1
   `events`, from the same Python generator as the soak (so the rate below is one this
   generator can actually send);
2. the soak: an open loop at a fixed arrival rate (70% of that maximum) for `seconds`, the same
   mix, every event with a unique id; per window: requests, errors (non-200 or transport
   errors), fallback answers, degraded events, p50/p99, the service's memory (RSS summed over
   its process tree);
3. faults, at times proportional to `seconds` (`fault_schedule`), each recorded with what the
   service answered during and after it and how long it took to answer normally again:
   (a) bundle files removed: the serving bundle's folder and the second bundle's moved out of the
   model store; `reload` of the same tag, then of the second bundle (must be refused, the old
   one keeps serving); folders and `promoted.json` restored;
   (b) online store down: the live-state tables of the SQLite online store renamed away (the
   service holds an open connection, so moving the file would go unnoticed); `recommend` must
   answer (fallback), `events` must be accepted (degraded) and replayed once it is back;
   (c) reload to the second bundle: promoted through `PromotionRegistry`, then `reload`;
   (d) a corrupt bundle promoted by hand (`promoted.json` edited): `reload` must be refused;
   `promoted.json` restored;
4. events: every event id the service accepted (200) is looked up in the raw event files the
   service wrote during the run (read after it has stopped and flushed): `events_lost` must be 0;
   the replay counter on `/metrics` must cover the events accepted while the store was down.

`promoted.json` is put back as it was before the run, whatever happens.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import secrets
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.serve_bench import (
    ServeBenchConfig,
    players_and_slots,
    prepare_world,
    start_server,
)
from slotrec.core.atomic import write_json_atomic
from slotrec.core.settings import Settings

Log = Callable[[str], None]

RECOMMEND = "recommend"
EVENTS = "events"
# A fault is over when the service answers normally again within this long after its end.
RECOVERY_TARGET_SECONDS = 5.0
MEMORY_GROWTH_LIMIT = 0.10
SECOND_BUNDLE_FILE = "soak_bundles.json"
LIVE_TABLES = ("user_live_play", "user_live_profile")  # Feast tables: <project>_<view>


@dataclass
class SoakConfig:
    """How long and how hard the soak pushes, and where its world is."""

    work_dir: Path | None = None
    seconds: int = 600
    measure_seconds: int = 20
    measure_concurrency: int = 8
    load_share: float = 0.7  # of the measured maximum throughput
    events_share: float = 0.1  # 9 recommend : 1 events
    window_seconds: float | None = None  # default: seconds / 20, at least 5
    workers: int = 1
    k: int = 10
    seed: int = 23
    second_bundle_epochs: int = 1
    max_in_flight: int = 256  # the generator sheds (and counts) arrivals beyond this

    @property
    def window(self) -> float:
        """Seconds per statistics window."""
        return self.window_seconds or max(5.0, self.seconds / 20)


# --- what one request did, and statistics over many --------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One request of the soak: when it was sent and what came back.

    Times are seconds since the load started. `status` 0 is a transport error or a timeout.
    """

    sent: float
    done: float
    kind: str  # RECOMMEND or EVENTS
    status: int
    fallback: bool = False
    degraded: bool = False
    model_version: str | None = None
    event_id: str | None = None
    user_id: str | None = None

    @property
    def latency_ms(self) -> float:
        return (self.done - self.sent) * 1000

    @property
    def ok(self) -> bool:
        return self.status == 200


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def summarise(outcomes: Iterable[Outcome]) -> dict[str, Any]:
    """Counts and latency percentiles of a set of requests."""
    items = list(outcomes)
    latencies = [o.latency_ms for o in items]
    return {
        "requests": len(items),
        "recommend": sum(o.kind == RECOMMEND for o in items),
        "events": sum(o.kind == EVENTS for o in items),
        "errors": sum(not o.ok for o in items),
        "fallback": sum(o.fallback for o in items),
        "degraded_events": sum(o.degraded for o in items),
        "p50_ms": _percentile(latencies, 50),
        "p99_ms": _percentile(latencies, 99),
    }


def window_stats(
    outcomes: Iterable[Outcome], window_seconds: float, duration: float
) -> list[dict[str, Any]]:
    """`summarise` per window of send time: [0, w), [w, 2w), … up to `duration` (all windows,
    empty ones included, so a stall shows as a window without requests)."""
    if window_seconds <= 0:
        raise ValueError(f"window_seconds must be positive, got {window_seconds}")
    n = max(1, int(np.ceil(duration / window_seconds)))
    buckets: list[list[Outcome]] = [[] for _ in range(n)]
    for o in outcomes:
        buckets[min(n - 1, max(0, int(o.sent // window_seconds)))].append(o)
    return [
        {"start_s": round(i * window_seconds, 1), **summarise(bucket)}
        for i, bucket in enumerate(buckets)
    ]


# --- faults ---------------------------------------------------------------------------------

# (name, start, end) as fractions of the soak's duration; (c) is a single moment.
FAULT_FRACTIONS = (
    ("bundle_files_removed", 0.10, 0.18),
    ("online_store_down", 0.28, 0.33),
    ("reload_new_bundle", 0.45, 0.45),
    ("corrupt_bundle_promoted", 0.65, 0.70),
)
MIN_OUTAGE_SECONDS = 5.0


def fault_schedule(seconds: float) -> list[tuple[str, float, float]]:
    """When each fault starts and ends (seconds after the load starts), scaled to the run.

    A fault that lasts lasts at least `MIN_OUTAGE_SECONDS`, so a short run still has time to
    see the service answer during it.
    """
    schedule = []
    for name, start, end in FAULT_FRACTIONS:
        begin = start * seconds
        finish = end * seconds if end == start else max(end * seconds, begin + MIN_OUTAGE_SECONDS)
        schedule.append((name, round(begin, 1), round(finish, 1)))
    return schedule


@dataclass
class Fault:
    """One injected fault: what was done when, and what counts as a normal answer after it."""

    name: str
    description: str
    expected: str
    planned_start: float
    planned_end: float
    start: float | None = None
    end: float | None = None
    actions: list[dict[str, Any]] = field(default_factory=list)
    # the answer the service should give once the fault is over, e.g. the model version
    normal_version: str | None = None
    events_count: bool = False  # whether events (degraded or not) tell recovery too
    skipped: str | None = None

    def act(self, at: float, action: str, **result: Any) -> None:
        """Note an action taken (and what the service answered to it, if anything)."""
        self.actions.append({"t": round(at, 2), "action": action, **result})

    def normal(self, o: Outcome) -> bool:
        """Whether an answer is what the service gives when nothing is wrong."""
        if not o.ok or o.fallback or o.degraded:
            return False
        if o.kind == RECOMMEND and self.normal_version is not None:
            return o.model_version == self.normal_version
        return True

    def informative(self, o: Outcome) -> bool:
        """Whether an answer can show recovery (events carry no model version)."""
        return o.kind == RECOMMEND or self.events_count


def fault_report(fault: Fault, outcomes: list[Outcome], window_seconds: float) -> dict[str, Any]:
    """What the service answered during a fault and in the window after it, and recovery.

    `recovery_seconds`: from the end of the fault to the send time of the first normal answer
    after it, counting only answers that can show it (None: none came).
    `abnormal_after`: answers sent within one window after the end that were not normal.
    """
    record: dict[str, Any] = {
        "name": fault.name,
        "description": fault.description,
        "expected": fault.expected,
        "start_s": fault.start,
        "end_s": fault.end,
        "actions": fault.actions,
    }
    if fault.skipped or fault.start is None or fault.end is None:
        return {**record, "skipped": fault.skipped or "not reached"}
    start, end = fault.start, fault.end
    during = [o for o in outcomes if start <= o.sent < end]
    after = [o for o in outcomes if end <= o.sent < end + window_seconds]
    first_normal = next(
        (
            o
            for o in sorted(outcomes, key=lambda o: o.sent)
            if o.sent >= end and fault.informative(o) and fault.normal(o)
        ),
        None,
    )
    during_stats = summarise(during)
    return {
        **record,
        "during": {
            **during_stats,
            "fallback_share": round(
                during_stats["fallback"] / max(1, during_stats["recommend"]), 3
            ),
            "model_versions": sorted(
                {o.model_version for o in during if o.model_version is not None}
            ),
        },
        "after": {
            **summarise(after),
            "abnormal": sum(not fault.normal(o) for o in after if fault.informative(o)),
        },
        "recovery_seconds": None if first_normal is None else round(first_normal.sent - end, 3),
        "normal_means": "200, no fallback, not degraded"
        + (f", model_version {fault.normal_version}" if fault.normal_version else ""),
    }


def event_accounting(accepted_ids: Iterable[str], raw_ids: Iterable[str]) -> dict[str, Any]:
    """Events the service said 200 to, against the events in its raw files."""
    accepted = set(accepted_ids)
    in_raw = accepted & set(raw_ids)
    lost = sorted(accepted - in_raw)
    return {
        "events_sent": len(accepted),
        "events_in_raw_files": len(in_raw),
        "events_lost": len(lost),
        "lost_examples": lost[:10],
    }


# --- the service's memory -------------------------------------------------------------------


def process_tree(pid: int, proc: Path = Path("/proc")) -> list[int]:
    """`pid` and every process below it."""
    children: dict[int, list[int]] = {}
    for stat in proc.glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone since the listing
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(text.split(" ", 1)[0]))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def tree_rss_bytes(pid: int, proc: Path = Path("/proc")) -> int:
    """Resident memory of `pid` and its descendants, summed (bytes)."""
    total = 0
    for member in process_tree(pid, proc):
        try:
            status = (proc / str(member) / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


# --- the load -------------------------------------------------------------------------------


class RequestMaker:
    """The soak's requests: 9 `recommend` : 1 `events` (by default), valid, unique event ids."""

    def __init__(self, users: list[str], slots: list[str], config: SoakConfig, run_id: str):
        self.users, self.slots = users, slots
        self.k, self.events_share = config.k, config.events_share
        self.rng = random.Random(config.seed)
        self.run_id = run_id
        self.n = 0

    def __call__(self) -> tuple[str, dict[str, Any], str | None]:
        """(kind, body, event id or None) of the next request."""
        self.n += 1
        user = self.rng.choice(self.users)
        if self.rng.random() >= self.events_share:
            return RECOMMEND, {"user_id": user, "k": self.k}, None
        event_id = f"soak-{self.run_id}-{self.n}"
        heartbeat = self.rng.random() < 0.7
        event = {
            "event_id": event_id,
            "user_id": user,
            "slot_id": self.rng.choice(self.slots),
            "session_id": f"soak-{self.run_id}-{user}",
            "event_type": "heartbeat" if heartbeat else "session_start",
            "occurred_at": datetime.now(UTC).isoformat(),
            "duration_seconds": 30.0 if heartbeat else 0.0,
        }
        return EVENTS, {"events": [event]}, event_id


async def _send(session: Any, make: RequestMaker, t0: float) -> Outcome:
    import aiohttp

    kind, body, event_id = make()
    user_id = body["events"][0]["user_id"] if kind == EVENTS else body["user_id"]
    sent = time.perf_counter()
    status, fallback, degraded, version = 0, False, False, None
    try:
        async with session.post(f"/{kind}", json=body) as response:
            raw = await response.read()
            status = response.status
        if status == 200:
            answer = json.loads(raw)
            fallback = bool(answer.get("fallback"))
            degraded = bool(answer.get("degraded"))
            version = answer.get("model_version")
    except (aiohttp.ClientError, TimeoutError, ValueError):
        status = 0 if status == 200 else status  # a 200 with a body that is not JSON: error
    return Outcome(
        sent=sent - t0,
        done=time.perf_counter() - t0,
        kind=kind,
        status=status,
        fallback=fallback,
        degraded=degraded,
        model_version=version,
        event_id=event_id,
        user_id=user_id,
    )


def _session(url: str, limit: int) -> Any:
    import aiohttp

    return aiohttp.ClientSession(
        base_url=url,
        connector=aiohttp.TCPConnector(limit=limit),
        timeout=aiohttp.ClientTimeout(total=35),  # the service's own timeout is 30 s
    )


async def closed_loop(url: str, make: RequestMaker, concurrency: int, seconds: float) -> dict:
    """`concurrency` requests in flight for `seconds`: the maximum throughput, errors, p99."""
    outcomes: list[Outcome] = []
    async with _session(url, concurrency) as session:
        t0 = time.perf_counter()

        async def worker() -> None:
            while time.perf_counter() - t0 < seconds:
                outcomes.append(await _send(session, make, t0))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    stats = summarise(outcomes)
    return {
        "concurrency": concurrency,
        "seconds": round(elapsed, 1),
        **stats,
        "rps": round(len(outcomes) / elapsed, 1),
    }


async def open_loop(
    url: str,
    make: RequestMaker,
    rate: float,
    seconds: float,
    max_in_flight: int,
    driver: Callable[[float], Any],
) -> tuple[list[Outcome], dict[str, Any]]:
    """Requests arriving at a fixed `rate` for `seconds`, whatever the answers take.

    `driver(t0)` is a coroutine run alongside (the fault schedule). Returns every outcome and
    the generator's own figures: arrivals shed at `max_in_flight`, how late it sent.
    """
    outcomes: list[Outcome] = []
    in_flight: set[asyncio.Task] = set()
    shed, lags = 0, []

    def _collect(task: asyncio.Task) -> None:
        in_flight.discard(task)
        outcomes.append(task.result())

    async with _session(url, 64) as session:  # the service takes 64 requests at a time
        t0 = time.perf_counter()
        faults = asyncio.create_task(driver(t0))
        for i in range(int(rate * seconds)):
            due = t0 + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            lags.append(max(0.0, -delay) * 1000)
            if len(in_flight) >= max_in_flight:
                shed += 1
                continue
            task = asyncio.create_task(_send(session, make, t0))
            in_flight.add(task)
            task.add_done_callback(_collect)
        if in_flight:
            await asyncio.gather(*in_flight)
        await faults
        elapsed = time.perf_counter() - t0
    return outcomes, {
        "target_rps": round(rate, 1),
        "achieved_rps": round(len(outcomes) / elapsed, 1),
        "shed_by_generator": shed,
        "send_lag_p99_ms": _percentile(lags, 99),
        "send_lag_max_ms": round(max(lags), 1) if lags else None,
    }


# --- the fault driver -----------------------------------------------------------------------


@dataclass
class World:
    """What the faults act on."""

    settings: Settings
    url: str
    admin_token: str
    first: str  # the promoted bundle when the run starts
    second: str  # trained beforehand, promoted in fault (c)
    corrupt: str  # garbage weights, promoted by hand in fault (d)
    moved_dir: Path


def bundle_path(settings: Settings, tag: str) -> Path:
    """The bundle's folder in the data directory's BentoML model store."""
    import bentoml

    from training.model_store import model_store

    return Path(bentoml.models.get(tag, _model_store=model_store(settings)).path)


class FaultDriver:
    """Runs the fault schedule against the service while the load runs."""

    def __init__(self, world: World, config: SoakConfig, pid: int, log: Log) -> None:
        self.world, self.config, self.pid, self.log = world, config, pid, log
        self.memory: list[tuple[float, int]] = []
        names = dict(
            bundle_files_removed=(
                "the serving bundle's and the second bundle's folders moved out of the model "
                "store; reload of the same tag, then the second bundle promoted and reloaded; "
                "folders and promoted.json restored",
                "recommend answers normally from the bundle in memory; reloading a bundle whose "
                "files are gone is refused (409, the reason named); nothing changes",
            ),
            online_store_down=(
                "the live-state tables of the SQLite online store renamed away, then back",
                "recommend answers (fallback: true), events are accepted (degraded: true), "
                "never 5xx; after: normal answers, the events replayed",
            ),
            reload_new_bundle=(
                "the second bundle promoted (PromotionRegistry) and POST /reload",
                "reload answers changed: true; requests keep succeeding; model_version switches",
            ),
            corrupt_bundle_promoted=(
                "a bundle with a garbage weights file named in promoted.json by hand, "
                "POST /reload, promoted.json restored",
                "reload refused (409, the reason named); the serving bundle keeps serving",
            ),
        )
        self.faults = [
            Fault(name, *names[name], start, end)
            for name, start, end in fault_schedule(config.seconds)
        ]

    async def run(self, t0: float) -> None:
        """Sample memory every window; start and end each fault on time."""
        import aiohttp

        headers = {"Authorization": f"Bearer {self.world.admin_token}"}
        async with aiohttp.ClientSession(base_url=self.world.url, headers=headers) as admin:
            self.admin = admin
            actions = {
                "bundle_files_removed": self._bundle_files_removed,
                "online_store_down": self._online_store_down,
                "reload_new_bundle": self._reload_new_bundle,
                "corrupt_bundle_promoted": self._corrupt_bundle_promoted,
            }
            sampler = asyncio.create_task(self._sample_memory(t0))
            for fault in self.faults:
                await self._until(t0, fault.planned_start)
                self.log(f"fault {fault.name} at {time.perf_counter() - t0:.1f} s")
                try:
                    await actions[fault.name](fault, t0)
                except Exception as exc:  # a fault that cannot be injected is reported
                    fault.act(time.perf_counter() - t0, "failed", error=repr(exc))
                    self.log(f"fault {fault.name} failed: {exc!r}")
                    if fault.start is None:
                        fault.skipped = f"could not be injected: {exc!r}"
                    elif fault.end is None:
                        fault.end = time.perf_counter() - t0
            await self._until(t0, self.config.seconds)
            sampler.cancel()

    async def _sample_memory(self, t0: float) -> None:
        while True:
            rss = await asyncio.to_thread(tree_rss_bytes, self.pid)
            self.memory.append((round(time.perf_counter() - t0, 1), rss))
            await asyncio.sleep(self.config.window)

    @staticmethod
    async def _until(t0: float, at: float) -> None:
        delay = t0 + at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _reload(self) -> dict[str, Any]:
        started = time.perf_counter()
        async with self.admin.post("/reload", json={}) as response:
            text = await response.text()
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = text[:300]
        return {
            "status": response.status,
            "answer": body,
            "seconds": round(time.perf_counter() - started, 2),
        }

    def _promote(self, tag: str) -> None:
        from training.promotion import PromotionRegistry

        PromotionRegistry(self.world.settings.layout.promoted_path).promote(
            tag, {"promoted_by": "bench soak"}
        )

    def _move(self, tags: list[str]) -> list[tuple[Path, Path]]:
        moves = []
        for tag in tags:
            source = bundle_path(self.world.settings, tag)
            target = self.world.moved_dir / source.name
            self.world.moved_dir.mkdir(parents=True, exist_ok=True)
            source.rename(target)
            moves.append((source, target))
        return moves

    async def _bundle_files_removed(self, fault: Fault, t0: float) -> None:
        world = self.world
        fault.normal_version = world.first
        promoted = world.settings.layout.promoted_path.read_text()
        moves = await asyncio.to_thread(self._move, [world.first, world.second])
        fault.start = time.perf_counter() - t0
        fault.act(fault.start, "moved out of the model store", folders=[str(s) for s, _ in moves])
        fault.act(time.perf_counter() - t0, "POST /reload (same tag)", **await self._reload())
        self._promote(world.second)
        fault.act(
            time.perf_counter() - t0,
            f"promoted {world.second} (files gone), POST /reload",
            must_refuse=True,
            **await self._reload(),
        )
        await self._until(t0, fault.planned_end)
        for source, target in moves:
            target.rename(source)
        write_json_atomic(world.settings.layout.promoted_path, json.loads(promoted))
        fault.end = time.perf_counter() - t0
        fault.act(fault.end, "folders and promoted.json restored")
        fault.act(time.perf_counter() - t0, "POST /reload", **await self._reload())

    async def _online_store_down(self, fault: Fault, t0: float) -> None:
        settings = self.world.settings
        fault.events_count = True
        if settings.online_store != "sqlite":
            fault.skipped = f"online store is {settings.online_store}: this fault is SQLite's"
            return
        path = settings.layout.feast_online_path
        tables = [f"slotrec_{name}" for name in LIVE_TABLES]
        await asyncio.to_thread(_rename_tables, path, tables, "", "__soak_away")
        fault.start = time.perf_counter() - t0
        fault.act(fault.start, "live-state tables renamed away", tables=tables)
        await self._until(t0, fault.planned_end)
        await asyncio.to_thread(_rename_tables, path, tables, "__soak_away", "")
        fault.end = time.perf_counter() - t0
        fault.act(fault.end, "live-state tables restored")

    async def _reload_new_bundle(self, fault: Fault, t0: float) -> None:
        fault.normal_version = self.world.second
        self._promote(self.world.second)
        fault.start = time.perf_counter() - t0
        fault.act(fault.start, f"promoted {self.world.second}")
        answer = await self._reload()
        fault.end = time.perf_counter() - t0
        fault.act(fault.end, "POST /reload", **answer)

    async def _corrupt_bundle_promoted(self, fault: Fault, t0: float) -> None:
        path = self.world.settings.layout.promoted_path
        before = json.loads(path.read_text())
        fault.normal_version = before["current"]
        write_json_atomic(path, {**before, "current": self.world.corrupt})
        fault.start = time.perf_counter() - t0
        fault.act(fault.start, f"promoted.json names {self.world.corrupt} (edited by hand)")
        fault.act(
            time.perf_counter() - t0, "POST /reload", must_refuse=True, **await self._reload()
        )
        await self._until(t0, fault.planned_end)
        write_json_atomic(path, before)
        fault.end = time.perf_counter() - t0
        fault.act(fault.end, "promoted.json restored")
        fault.act(time.perf_counter() - t0, "POST /reload", **await self._reload())


def _rename_tables(db: Path, tables: list[str], old_suffix: str, new_suffix: str) -> None:
    """Rename tables behind the service's back (it waits out the write lock like any writer)."""
    with sqlite3.connect(db, timeout=30) as con:
        have = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
        missing = [t + old_suffix for t in tables if t + old_suffix not in have]
        if missing:
            raise RuntimeError(f"online store {db} has no table {', '.join(missing)}")
        for table in tables:
            con.execute(f'alter table "{table}{old_suffix}" rename to "{table}{new_suffix}"')


# --- bundles for the faults -----------------------------------------------------------------


def second_bundle(settings: Settings, first: str, epochs: int, log: Log) -> str:
    """A second bundle trained on the same world (not promoted), reused across runs."""
    from benchmarks.serve_bench import train_serving_bundle
    from training.bundle import WINDOW_FILE

    note = settings.data_dir / SECOND_BUNDLE_FILE
    if note.exists():
        tag = str(json.loads(note.read_text())["second"])
        try:
            bundle_path(settings, tag)
            log(f"reusing the second bundle {tag}")
            return tag
        except Exception:
            log(f"the second bundle {tag} is gone from the model store: training another")
    window = json.loads((bundle_path(settings, first) / WINDOW_FILE).read_text())
    as_of = date.fromisoformat(window["as_of"])
    log(f"training the second bundle ({epochs} epoch(s), as of {as_of})")
    tag = train_serving_bundle(settings, as_of, epochs)
    write_json_atomic(note, {"second": tag, "first": first, "epochs": epochs})
    return tag


def corrupt_bundle(settings: Settings, source_tag: str) -> str:
    """A new model-store entry with `source_tag`'s files and a garbage weights file."""
    import bentoml

    from training.bundle import MODEL_FILE
    from training.model_store import BUNDLE_MODEL_NAME, model_store

    source = bundle_path(settings, source_tag)
    with bentoml.models.create(
        BUNDLE_MODEL_NAME,
        labels={"kind": "corrupt", "made_by": "bench soak"},
        metadata={},
        module="training.bundle",
        _model_store=model_store(settings),
    ) as model:
        target = Path(model.path)
        for item in source.iterdir():
            if item.name == "model.yaml":  # the new entry's own
                continue
            if item.is_dir():
                shutil.copytree(item, target / item.name)
            else:
                shutil.copy2(item, target / item.name)
        (target / MODEL_FILE).write_bytes(b"this is not a torch checkpoint\n" * 8)
    return str(model.tag)


# --- the run --------------------------------------------------------------------------------


def _metric(text: str, name: str, labels: dict[str, str]) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def raw_event_ids(settings: Settings, since: float, prefix: str) -> list[str]:
    """Event ids with `prefix` in the served raw files written after `since` (epoch seconds)."""
    import pyarrow.parquet as pq

    from bentos.realtime.raw_sink import SERVED_FILE_PREFIX

    ids: list[str] = []
    for path in settings.layout.raw_events_dir.glob(f"day=*/{SERVED_FILE_PREFIX}*.parquet"):
        if path.stat().st_mtime < since:
            continue
        column = pq.read_table(path, columns=["event_id"]).column("event_id").to_pylist()
        ids.extend(i for i in column if i and i.startswith(prefix))
    return ids


def degraded_in_online_store(settings: Settings, degraded: list[Outcome]) -> int:
    """How many events answered `degraded` are in their player's live state now (replayed).

    Read after the service stopped, through the same `LiveStateStore` the service uses: an
    applied event's digest is in the player's `recent_event_keys` (the last 64 applied).
    """
    from bentos.realtime.state import event_key
    from bentos.realtime.store import LiveStateStore

    if not degraded:
        return 0
    live = LiveStateStore(settings)
    try:
        user_of = {o.event_id: o.user_id for o in degraded if o.event_id and o.user_id}
        states = live.states(sorted(set(user_of.values())))
    finally:
        live.close()
    return sum(
        event_key(event_id) in states[user].recent_event_keys for event_id, user in user_of.items()
    )


def _stop(process: subprocess.Popen) -> None:
    process.terminate()  # BentoML's shutdown hook flushes the raw sink
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()


@dataclass(frozen=True)
class _Soaked:
    """What the load phase measured on the served process, for the accounting and the JSON.

    Attributes:
        top: The closed loop's maximum throughput (`closed_loop`'s figures).
        outcomes: Every request of the soak.
        generator: The open loop's own figures (target and achieved rate, shed, send lag).
        memory_start: The service's RSS (process tree, bytes) before the soak.
        memory_end: The same after it.
        replay: The service's replay counter by outcome ("replayed", "dropped").
    """

    top: dict[str, Any]
    outcomes: list[Outcome]
    generator: dict[str, Any]
    memory_start: int
    memory_end: int
    replay: dict[str, float]


def _prepare_soak_world(config: SoakConfig, log: Log) -> tuple[World, dict[str, Any]]:
    """The served world with its three bundles, and a fresh admin token for the service.

    Returns:
        What the faults act on (its `url` still empty: no server yet), and `promoted.json` as
        it is before the run, for `_restore`.
    """
    settings = prepare_world(ServeBenchConfig(work_dir=config.work_dir), log)
    promoted_before = json.loads(settings.layout.promoted_path.read_text())
    first = str(promoted_before["current"])
    second = second_bundle(settings, first, config.second_bundle_epochs, log)
    corrupt = corrupt_bundle(settings, first)
    token = secrets.token_hex(16)
    os.environ["SLOTREC_ADMIN_TOKEN"] = token  # the served process inherits it
    world = World(settings, "", token, first, second, corrupt, settings.data_dir / "soak_moved")
    return world, promoted_before


def _soak(
    url: str, make: RequestMaker, config: SoakConfig, driver: FaultDriver, pid: int, log: Log
) -> _Soaked:
    """Warm up, measure the maximum throughput, then soak at a share of it with the faults.

    Args:
        url: The served process.
        make: The requests.
        config: Lengths, concurrency, load share and the generator's in-flight limit.
        driver: Runs the fault schedule alongside the soak.
        pid: The served process, whose tree's memory is measured.
        log: Where progress lines go.
    """
    import httpx

    asyncio.run(closed_loop(url, make, 4, 5))
    top = asyncio.run(closed_loop(url, make, config.measure_concurrency, config.measure_seconds))
    log(f"maximum throughput (closed loop): {top}")
    # below the maximum, so what goes wrong during the soak is the faults' doing, not overload
    rate = config.load_share * top["rps"]
    memory_start = tree_rss_bytes(pid)
    schedule = [(f.name, f.planned_start, f.planned_end) for f in driver.faults]
    log(f"soak: {rate:.1f} requests/s for {config.seconds} s; faults at {schedule}")
    outcomes, generator = asyncio.run(
        open_loop(url, make, rate, config.seconds, config.max_in_flight, driver.run)
    )
    memory_end = tree_rss_bytes(pid)
    scraped = httpx.get(f"{url}/metrics", timeout=30).text
    replay = {
        o: _metric(scraped, "slotrec_events_replayed_total", {"outcome": o})
        for o in ("replayed", "dropped")
    }
    return _Soaked(top, outcomes, generator, memory_start, memory_end, replay)


def _account_events(
    settings: Settings, soaked: _Soaked, since: float, run_id: str
) -> dict[str, Any]:
    """Every accepted event against the raw files, and the degraded ones against the replay.

    Read after the service stopped, so its raw sink and online store are flushed.

    Args:
        settings: The served world.
        soaked: The soak's requests and the service's replay counter.
        since: Epoch seconds before the service started: older raw files are not this run's.
        run_id: The run's event id tag.
    """
    raw_ids = raw_event_ids(settings, since, f"soak-{run_id}-")
    outcomes = soaked.outcomes
    accepted = [o.event_id for o in outcomes if o.kind == EVENTS and o.ok and o.event_id]
    events = event_accounting(accepted, raw_ids)
    degraded = [o for o in outcomes if o.degraded and o.event_id]
    events.update(
        events_degraded=len(degraded),
        events_degraded_in_online_store=degraded_in_online_store(settings, degraded),
        events_replayed=int(soaked.replay["replayed"]),
        events_replay_dropped=int(soaked.replay["dropped"]),
    )
    return events


def _summary(
    config: SoakConfig,
    world: World,
    driver: FaultDriver,
    soaked: _Soaked,
    events: dict[str, Any],
    load_at_start: list[float],
) -> dict[str, Any]:
    """The result JSON: throughput, windows, memory, faults, events, targets, setting, machine."""
    outcomes, generator = soaked.outcomes, soaked.generator
    faults = [fault_report(f, outcomes, config.window) for f in driver.faults]
    totals = summarise(outcomes)
    memory_start, memory_end = soaked.memory_start, soaked.memory_end
    growth = (memory_end - memory_start) / memory_start if memory_start else None
    return {
        "max_throughput": soaked.top,
        "load": {**generator, "load_share": config.load_share},
        "totals": totals,
        "windows": window_stats(outcomes, config.window, config.seconds),
        "memory": {
            "start_bytes": memory_start,
            "end_bytes": memory_end,
            "growth_pct": None if growth is None else round(100 * growth, 2),
            "samples": driver.memory,
        },
        "faults": faults,
        "events": events,
        "targets": _targets(totals, generator, growth, events, faults),
        "bundles": {"first": world.first, "second": world.second, "corrupt": world.corrupt},
        "config": {
            **{k: v for k, v in asdict(config).items() if k != "work_dir"},
            "window_seconds": config.window,
            "fault_schedule": fault_schedule(config.seconds),
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": list(os.getloadavg()),
        },
    }


def run_soak_bench(config: SoakConfig, out: Path, log: Log = print) -> dict[str, Any]:
    """Prepare, serve, measure, soak with faults, account for events; write and return JSON."""
    if config.seconds < 30:
        raise ValueError(f"seconds must be at least 30, got {config.seconds}")
    world, promoted_before = _prepare_soak_world(config, log)
    settings = world.settings
    # sorted, so the seeded request mix picks the same players and slots every run
    users, slots = players_and_slots(settings)
    run_id = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    make = RequestMaker(users, slots, config, run_id)
    started_wall = time.time()
    load_at_start = list(os.getloadavg())
    process, url = start_server(settings, config.workers, settings.data_dir / "bench_soak.log")
    world.url = url
    driver = FaultDriver(world, config, process.pid, log)
    try:
        log(f"serving {world.first} at {url}; warming up")
        soaked = _soak(url, make, config, driver, process.pid, log)
    finally:
        _stop(process)
        _restore(world, promoted_before, log)
    events = _account_events(settings, soaked, started_wall - 1, run_id)
    summary = _summary(config, world, driver, soaked, events, load_at_start)
    write_json_atomic(out, summary)
    return summary


def _restore(world: World, promoted_before: dict[str, Any], log: Log) -> None:
    """Put promoted.json and the model store back as they were, whatever happened."""
    import bentoml

    from training.model_store import model_store

    write_json_atomic(world.settings.layout.promoted_path, promoted_before)
    online = world.settings.layout.feast_online_path
    if world.settings.online_store == "sqlite" and online.exists():
        tables = [f"slotrec_{name}" for name in LIVE_TABLES]
        try:
            _rename_tables(online, tables, "__soak_away", "")
            log("restored the live-state tables of the online store")
        except RuntimeError:
            pass  # not renamed away: nothing to restore
    store = world.settings.layout.bentoml_home / "models"
    if world.moved_dir.exists():
        for folder in world.moved_dir.iterdir():
            target = store / "slotrec-ncf" / folder.name
            if not target.exists():
                folder.rename(target)
                log(f"restored the moved bundle folder {target}")
    try:
        bentoml.models.delete(world.corrupt, _model_store=model_store(world.settings))
    except Exception as exc:
        log(f"could not delete the corrupt bundle {world.corrupt}: {exc}")


def _targets(
    totals: dict[str, Any],
    generator: dict[str, Any],
    growth: float | None,
    events: dict[str, Any],
    faults: list[dict[str, Any]],
) -> dict[str, bool]:
    """The soak's pass/fail lines."""
    by_name = {f["name"]: f for f in faults}

    def refused(name: str) -> bool:
        """Every reload the fault expected to be refused got a 409."""
        asked = [a for a in by_name.get(name, {}).get("actions", []) if a.get("must_refuse")]
        return bool(asked) and all(a.get("status") == 409 for a in asked)

    def refusal_named(name: str) -> bool:
        """The refused reload's answer says why (not only the server log)."""
        asked = [a for a in by_name.get(name, {}).get("actions", []) if a.get("must_refuse")]
        return bool(asked) and all("cannot load bundle" in str(a.get("answer")) for a in asked)

    recovered = all(
        f.get("recovery_seconds") is not None and f["recovery_seconds"] <= RECOVERY_TARGET_SECONDS
        for f in faults
        if "skipped" not in f
    )
    reload_new = by_name.get("reload_new_bundle", {})
    return {
        "zero_errors": totals["errors"] == 0,
        "no_arrival_shed": generator["shed_by_generator"] == 0,
        "memory_growth_le_10pct": growth is not None and growth <= MEMORY_GROWTH_LIMIT,
        "no_event_lost": events["events_lost"] == 0,
        "degraded_events_replayed": events["events_replayed"] >= events["events_degraded"]
        and events.get("events_degraded_in_online_store", 0) == events["events_degraded"],
        "reload_refusal_names_the_reason": refusal_named("bundle_files_removed")
        and refusal_named("corrupt_bundle_promoted"),
        "recovery_within_5s": recovered,
        "reload_of_missing_bundle_refused": refused("bundle_files_removed"),
        "corrupt_bundle_refused": refused("corrupt_bundle_promoted"),
        "model_version_switched": reload_new.get("recovery_seconds") is not None,
    }
