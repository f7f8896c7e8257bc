"""A bounded HTTP load with `wrk` (Debian's `wrk` package), for `slotrec bench serve`.

A Python load generator on the same two cores as the service spends about as much CPU per
request as the service itself, so it measures mostly itself. `wrk` is a small C program built
on epoll: it leaves the cores to the server. This module drives it with a generated Lua script
that

- opens one connection per wrk thread (`-t c -c c`) and sends several kinds of request in
  turn by weight (`run_wrk_mix`: fixed JSON bodies cycling, or batches of heartbeats that
  Lua writes per request with fresh event ids), spread over the threads,
- times every request itself, from `request()` to `response()` on its connection, with the
  monotonic clock (LuaJIT FFI), into a 10 µs histogram per thread, merged at the end,
- runs for a fixed number of seconds and stops by itself (wrk's own clock: a Lua script can
  stop a wrk thread early, but wrk's main thread still waits out the duration, so a fixed
  request count cannot end the run),
- counts every 4xx/5xx answer and socket error (connect, read, write, timeout) as an error,
- prints one JSON line with a histogram per kind, the request count and the duration.

Why not wrk's own percentiles: wrk 4 "corrects" its latency histogram for coordinated omission
(`stats_correct`): every response slower than twice the mean interval adds made-up samples at
that latency minus one, two, three … intervals. One 100 ms pause at 1 ms per request becomes
about a hundred samples between 1 and 100 ms, so a closed-loop run at fixed concurrency got a
p99 of tens of milliseconds out of two slow requests; the sum of wrk's latencies came to twice
the run's wall time at one connection. The measured p99 is what a caller at that concurrency
sees; wrk's corrected p99 is kept alongside (`wrk_corrected_p99_ms`), as the view of callers
arriving at a fixed rate who would have queued behind each pause.

`run_wrk` returns the same dict shape as the Python generator in `serve_bench`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# Width of a latency bucket in microseconds.
BUCKET_US = 10

_SCRIPT = """
-- one connection per wrk thread, so each thread's request() and response() alternate and
-- the time between them is that request's latency (LuaJIT's FFI reads the monotonic clock)
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } slotrec_timespec;
int clock_gettime(int clock_id, slotrec_timespec *tp);
]]
local clock = ffi.new("slotrec_timespec")
local function now_us()
  ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000000 + tonumber(clock.tv_nsec) / 1000
end

-- the kinds of request, and the order they take turns in (a cycle built from their weights)
local kinds = {%(kinds)s}
local schedule = {%(schedule)s}
local threads = {}
local next_offset = 0

function setup(thread)
  thread:set("offset", next_offset)
  thread:set("stride", %(concurrency)d)
  next_offset = next_offset + 1
  table.insert(threads, thread)
end

local sent = 0
local started = 0
local current = 1
-- globals, so done() can read them; flat tables (wrk copies nested ones between its Lua
-- states badly: it crashed). latencies_us: kind * KIND_KEY + bucket (%(bucket_us)d us) -> count
local KIND_KEY = 100000000
latencies_us = {}
failed = {}  -- kind -> 4xx/5xx answers
for i = 1, #kinds do failed[i] = 0 end

-- a batch of heartbeats from `batch` different players, each going on with their session
local function heartbeats(kind, turn)
  local parts = {}
  local players = kind.players
  for i = 1, kind.batch do
    local p = ((turn * kind.batch + i - 1) %% #players) + 1
    local player = players[p]
    parts[i] = string.format(
      '{"event_id":"%%s-%%d-%%d-%%d","user_id":"%%s","slot_id":"%%s","session_id":"%%s",' ..
      '"event_type":"heartbeat","occurred_at":"%%s","duration_seconds":%%s,' ..
      '"bet_amount":1.0,"win_amount":0.5}',
      kind.prefix, offset, turn, i, player[1], player[2], player[3], kind.at, kind.seconds)
  end
  return '{"events":[' .. table.concat(parts, ",") .. ']}'
end

local sent_of = {}  -- requests of each kind this connection sent

function request()
  -- each connection takes the kinds in the schedule's order, so every one keeps the weights
  current = schedule[((offset + sent) %% #schedule) + 1]
  local n = sent_of[current] or 0
  sent_of[current] = n + 1
  local turn = offset + n * stride  -- this kind's requests, numbered across the connections
  local kind = kinds[current]
  local body
  if kind.bodies then
    body = kind.bodies[(turn %% #kind.bodies) + 1]
  else
    body = heartbeats(kind, turn)
  end
  sent = sent + 1
  started = now_us()
  return wrk.format("POST", kind.path, {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  local key = current * KIND_KEY + math.floor((now_us() - started) / %(bucket_us)d)
  latencies_us[key] = (latencies_us[key] or 0) + 1
  if status >= 400 then failed[current] = failed[current] + 1 end
end

function done(summary, latency, requests)
  local e = summary.errors
  local merged = {}
  local errors = {}
  for k = 1, #kinds do merged[k] = {}; errors[k] = 0 end
  for _, thread in ipairs(threads) do
    for key, count in pairs(thread:get("latencies_us")) do
      local k = math.floor(key / KIND_KEY)
      local list = merged[k]
      list[#list + 1] = string.format("[%%d,%%d]", key %% KIND_KEY, count)
    end
    local thread_failed = thread:get("failed")
    for k = 1, #kinds do errors[k] = errors[k] + thread_failed[k] end
  end
  local per_kind = {}
  for k = 1, #kinds do
    per_kind[k] = string.format('{"status_errors": %%d, "histogram": [%%s]}',
      errors[k], table.concat(merged[k], ","))
  end
  io.write(string.format(
    '{"requests": %%d, "duration_us": %%d, "wrk_p99_us": %%d, ' ..
    '"socket_errors": %%d, "status_errors": %%d, "kinds": [%%s]}\\n',
    summary.requests, summary.duration, latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status, table.concat(per_kind, ",")))
end
"""


@dataclass(frozen=True)
class Bodies:
    """Requests with fixed JSON bodies, sent in turn (cycling)."""

    name: str
    path: str
    bodies: list[dict[str, Any]]
    weight: int = 1

    def lua(self) -> str:
        bodies = ",".join(_lua_string(json.dumps(b, separators=(",", ":"))) for b in self.bodies)
        return f'{{path = "{self.path}", bodies = {{{bodies}}}}}'


@dataclass(frozen=True)
class HeartbeatBatches:
    """`events` calls of `batch` heartbeats from as many players, each going on with a session.

    Every event gets an id of its own (`prefix`, connection, turn, position), so the service
    does the whole work for each: a redelivered id would change nothing the second time.

    Attributes:
        players: (user_id, slot_id, session_id) of the players whose sessions go on; each batch
            takes the next `batch` of them, so a batch never holds a player twice while
            `batch <= len(players)`.
        occurred_at: The events' time (ISO 8601; the service refuses one over 7 days old).
        seconds: Each heartbeat's play time since the player's previous event.
    """

    name: str
    players: list[tuple[str, str, str]]
    batch: int
    occurred_at: str
    seconds: float = 60.0
    prefix: str = "bench"
    weight: int = 1
    path: str = "/events"

    def lua(self) -> str:
        players = ",".join(
            "{" + ",".join(_lua_string(part) for part in player) + "}" for player in self.players
        )
        return (
            f'{{path = "{self.path}", batch = {self.batch}, prefix = "{self.prefix}", '
            f'at = "{self.occurred_at}", seconds = "{self.seconds:g}", players = {{{players}}}}}'
        )


RequestKind = Bodies | HeartbeatBatches


def wrk_available() -> bool:
    """Whether the `wrk` binary is on the PATH."""
    return shutil.which("wrk") is not None


def _lua_string(text: str) -> str:
    # a Lua long string needs no escaping as long as the body has no "]]"
    if "]]" in text:
        raise ValueError("request body contains ']]', which a Lua long string cannot hold")
    return f"[[{text}]]"


def run_wrk(
    url: str,
    path: str,
    bodies: list[dict[str, Any]],
    concurrency: int,
    seconds: int,
) -> dict[str, Any]:
    """POST `bodies` (cycling) for `seconds` with `concurrency` connections; percentiles, rate.

    Args:
        url: Base URL of the service (`http://127.0.0.1:PORT`).
        path: Endpoint path, e.g. "/recommend".
        bodies: JSON bodies, sent in order and again from the start when used up.
        concurrency: Open connections (one wrk thread each), each with one request in flight.
        seconds: Length of the run.

    Returns:
        `requests`, `p50_ms`, `p99_ms`, `mean_ms`, `max_ms` (measured per request), `timed`
        (responses timed), `wrk_corrected_p99_ms` (wrk's own, see the module docstring), `rps`,
        `errors` (socket errors plus 4xx/5xx answers), `generator: "wrk"`.

    Raises:
        RuntimeError: wrk is missing, fails, or prints no result.
    """
    result = run_wrk_mix(url, [Bodies("only", path, bodies)], concurrency, seconds)
    return {**result["only"], "wrk_corrected_p99_ms": result["wrk_corrected_p99_ms"]}


def run_wrk_mix(
    url: str, kinds: Sequence[RequestKind], concurrency: int, seconds: int
) -> dict[str, Any]:
    """Several kinds of request taking turns by weight on the same connections.

    Args:
        url: Base URL of the service.
        kinds: What to send; a kind of weight w takes w turns in every cycle of the weights'
            sum (9 `recommend` : 1 `events` is weights 9 and 1).
        concurrency: Open connections, one request in flight each.
        seconds: Length of the run.

    Returns:
        One entry per kind name (the `run_wrk` figures of that kind's requests: `requests`,
        percentiles, `rps`, `errors`, and for heartbeat batches `events` and `events_per_s`),
        plus `wrk_corrected_p99_ms` and `socket_errors` over all of them.

    Raises:
        RuntimeError: wrk is missing, fails, or prints no result.
    """
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    schedule = [i + 1 for i, kind in enumerate(kinds) for _ in range(kind.weight)]
    script = _SCRIPT % {
        "kinds": ",".join(kind.lua() for kind in kinds),
        "schedule": ",".join(str(i) for i in schedule),
        "concurrency": concurrency,
        "bucket_us": BUCKET_US,
    }
    with tempfile.TemporaryDirectory() as scratch:
        script_path = Path(scratch) / "load.lua"
        script_path.write_text(script)
        completed = subprocess.run(
            [
                binary,
                f"-t{concurrency}",
                f"-c{concurrency}",
                f"-d{seconds}s",
                "-s",
                str(script_path),
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
        )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr[-500:]}")
    raw = json.loads(lines[-1])
    duration = raw["duration_us"] / 1e6
    out: dict[str, Any] = {
        "wrk_corrected_p99_ms": round(raw["wrk_p99_us"] / 1000, 2),
        "socket_errors": raw["socket_errors"],
    }
    for kind, measured in zip(kinds, raw["kinds"], strict=True):
        summary = latency_summary(measured["histogram"])
        requests = summary["timed"]
        entry: dict[str, Any] = {
            "requests": requests,
            **summary,
            "rps": round(requests / duration, 1) if duration else 0.0,
            "errors": measured["status_errors"],
            "generator": "wrk",
        }
        if isinstance(kind, HeartbeatBatches):
            entry["events"] = requests * kind.batch
            entry["events_per_s"] = round(entry["events"] / duration, 1) if duration else 0.0
        out[kind.name] = entry
    # socket errors belong to no kind: charge them to the first, so no error goes uncounted
    out[kinds[0].name]["errors"] += raw["socket_errors"]
    return out


def latency_summary(histogram: list[list[int]]) -> dict[str, float]:
    """p50, p99, mean and max in milliseconds from `[bucket, count]` pairs of `BUCKET_US` µs.

    A latency is taken as the middle of its bucket (the max as the bucket's upper edge), so
    every figure is within 5 µs of the measured one.

    Raises:
        RuntimeError: the histogram is empty (no response came back).
    """
    if not histogram:
        raise RuntimeError("wrk timed no response: is the service answering?")
    pairs = np.array(sorted(histogram), dtype=np.float64)  # [n_buckets, 2]
    values_ms = (pairs[:, 0] + 0.5) * BUCKET_US / 1000
    counts = pairs[:, 1]
    cumulative = np.cumsum(counts)

    def percentile(p: float) -> float:
        rank = max(1.0, np.ceil(p / 100 * cumulative[-1]))
        return float(values_ms[np.searchsorted(cumulative, rank)])

    return {
        "p50_ms": round(percentile(50), 2),
        "p99_ms": round(percentile(99), 2),
        "mean_ms": round(float((values_ms * counts).sum() / cumulative[-1]), 3),
        "max_ms": round(float(pairs[-1, 0] + 1) * BUCKET_US / 1000, 2),
        "timed": int(cumulative[-1]),
    }
