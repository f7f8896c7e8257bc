"""A bounded HTTP load with `wrk` (Debian's `wrk` package), for `slotrec bench serve`.

A Python load generator on the same two cores as the service spends about as much CPU per
request as the service itself, so it measures mostly itself. `wrk` is a small C program built
on epoll: it leaves the cores to the server. This module drives it with a generated Lua script
that

- opens one connection per wrk thread (`-t c -c c`) and sends the given JSON bodies to one
  path, spread over the threads and cycling,
- times every request itself, from `request()` to `response()` on its connection, with the
  monotonic clock (LuaJIT FFI), into a 10 µs histogram per thread, merged at the end,
- runs for a fixed number of seconds and stops by itself (wrk's own clock: a Lua script can
  stop a wrk thread early, but wrk's main thread still waits out the duration, so a fixed
  request count cannot end the run),
- counts every 4xx/5xx answer and socket error (connect, read, write, timeout) as an error,
- prints one JSON line with the histogram, the request count and the duration.

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

local bodies = {%(bodies)s}
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
latencies_us = {}  -- bucket (%(bucket_us)d us) -> count; global so done() can read it

function request()
  local body = bodies[((offset + sent * stride) %% #bodies) + 1]
  sent = sent + 1
  started = now_us()
  return wrk.format("POST", "%(path)s", {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  local bucket = math.floor((now_us() - started) / %(bucket_us)d)
  latencies_us[bucket] = (latencies_us[bucket] or 0) + 1
end

function done(summary, latency, requests)
  local e = summary.errors
  local merged = {}
  for _, thread in ipairs(threads) do
    for bucket, count in pairs(thread:get("latencies_us")) do
      merged[#merged + 1] = string.format("[%%d,%%d]", bucket, count)
    end
  end
  io.write(string.format(
    '{"requests": %%d, "duration_us": %%d, "wrk_p99_us": %%d, ' ..
    '"socket_errors": %%d, "status_errors": %%d, "histogram": [%%s]}\\n',
    summary.requests, summary.duration, latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status, table.concat(merged, ",")))
end
"""


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
) -> dict[str, float]:
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
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    script = _SCRIPT % {
        "bodies": ",".join(_lua_string(json.dumps(b)) for b in bodies),
        "path": path,
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
    return {
        "requests": raw["requests"],
        **latency_summary(raw["histogram"]),
        "wrk_corrected_p99_ms": round(raw["wrk_p99_us"] / 1000, 2),
        "rps": round(raw["requests"] / duration, 1) if duration else 0.0,
        "errors": raw["socket_errors"] + raw["status_errors"],
        "generator": "wrk",
    }


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
