"""A bounded HTTP load with `wrk` (Debian's `wrk` package), for `slotrec bench serve`.

A Python load generator on the same two cores as the service spends about as much CPU per
request as the service itself, so it measures mostly itself. `wrk` is a small C program built
on epoll: it leaves the cores to the server. This module drives it with a generated Lua script
that

- sends the given JSON bodies in order, cycling, to one path,
- runs for a fixed number of seconds and stops by itself (wrk's own clock: a Lua script can
  stop a wrk thread early, but wrk's main thread still waits out the duration, so a fixed
  request count cannot end the run),
- counts every 4xx/5xx answer and socket error (connect, read, write, timeout) as an error,
- prints one JSON line with the latency percentiles, the request count and the rate.

`run_wrk` returns the same dict shape as the Python generator in `serve_bench`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

_SCRIPT = """
local bodies = {%(bodies)s}
local sent = 0

function request()
  sent = sent + 1
  local body = bodies[((sent - 1) %% #bodies) + 1]
  return wrk.format("POST", "%(path)s", {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, "max_us": %%d, ' ..
    '"socket_errors": %%d, "status_errors": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect + e.read + e.write + e.timeout, e.status))
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
        concurrency: Open connections, each with one request in flight.
        seconds: Length of the run.

    Returns:
        `requests`, `p50_ms`, `p99_ms`, `max_ms`, `rps`, `errors` (socket errors plus 4xx/5xx
        answers), `generator: "wrk"`.

    Raises:
        RuntimeError: wrk is missing, fails, or prints no result.
    """
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    script = _SCRIPT % {
        "bodies": ",".join(_lua_string(json.dumps(b)) for b in bodies),
        "path": path,
    }
    with tempfile.TemporaryDirectory() as scratch:
        script_path = Path(scratch) / "load.lua"
        script_path.write_text(script)
        completed = subprocess.run(
            [binary, "-t1", f"-c{concurrency}", f"-d{seconds}s", "-s", str(script_path), url],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
        )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr[-500:]}")
    raw = json.loads(lines[-1])
    seconds = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "max_ms": round(raw["max_us"] / 1000, 2),
        "rps": round(raw["requests"] / seconds, 1) if seconds else 0.0,
        "errors": raw["socket_errors"] + raw["status_errors"],
        "generator": "wrk",
    }
