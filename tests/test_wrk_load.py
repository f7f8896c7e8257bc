"""The wrk load driver of `slotrec bench serve`, against a tiny local HTTP server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from benchmarks.wrk_load import (
    Bodies,
    HeartbeatBatches,
    _lua_string,
    latency_summary,
    run_wrk,
    run_wrk_mix,
    wrk_available,
)

SEEN: list[dict] = []


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: with Nagle on, the body waits for the client's
    # delayed ACK (40 ms) and every request looks slow
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        SEEN.append(body)
        if body.get("pause_every") and len(SEEN) % body["pause_every"] == 0:
            time.sleep(0.1)
        status = 422 if body.get("bad") else 200
        payload = b'{"ok": true}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    SEEN.clear()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def test_lua_long_strings_refuse_a_body_that_would_end_them() -> None:
    assert _lua_string('{"a": 1}') == '[[{"a": 1}]]'
    with pytest.raises(ValueError, match="]]"):
        _lua_string('{"a": "]]"}')


@pytest.mark.skipif(not wrk_available(), reason="wrk is not installed (apt-get install wrk)")
def test_wrk_sends_the_bodies_in_turn_and_counts_errors(server_url: str) -> None:
    bodies = [{"user_id": "u1"}, {"user_id": "u2", "bad": True}]
    result = run_wrk(server_url, "/recommend", bodies, concurrency=1, seconds=1)
    assert result["generator"] == "wrk"
    assert result["requests"] > 10 and result["rps"] > 0
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
    # every second body is refused with a 422: half the requests are errors
    assert abs(result["errors"] - result["requests"] / 2) <= 1
    assert {b["user_id"] for b in SEEN} == {"u1", "u2"}


@pytest.mark.skipif(not wrk_available(), reason="wrk is not installed (apt-get install wrk)")
def test_wrk_spreads_the_bodies_over_its_connections(server_url: str) -> None:
    bodies = [{"user_id": f"u{i}"} for i in range(6)]
    result = run_wrk(server_url, "/recommend", bodies, concurrency=3, seconds=1)
    assert result["errors"] == 0 and result["timed"] == result["requests"]
    assert {b["user_id"] for b in SEEN} == {f"u{i}" for i in range(6)}


def test_latency_summary_reads_percentiles_off_the_histogram() -> None:
    # 98 responses in the 1.00-1.01 ms bucket, one at 5 ms, one at 100 ms
    summary = latency_summary([[100, 98], [500, 1], [10_000, 1]])
    assert summary["p50_ms"] == 1.0  # bucket middle 1.005 ms, rounded
    assert summary["p99_ms"] == 5.0
    assert summary["max_ms"] == 100.01
    assert summary["timed"] == 100
    assert summary["mean_ms"] == pytest.approx((98 * 1.005 + 5.005 + 100.005) / 100, abs=1e-3)
    with pytest.raises(RuntimeError, match="no response"):
        latency_summary([])


@pytest.mark.skipif(not wrk_available(), reason="wrk is not installed (apt-get install wrk)")
def test_wrk_latencies_are_measured_not_corrected(server_url: str) -> None:
    """One connection, a 100 ms pause every 20th request: the timed latencies add up to at
    most the run's length, and the p50 stays that of the fast requests.

    wrk's own histogram fails this: it adds made-up samples for every slow response
    (coordinated-omission correction), so its latencies summed to more than the wall time.
    """
    result = run_wrk(server_url, "/recommend", [{"pause_every": 20}], concurrency=1, seconds=2)
    assert result["timed"] == result["requests"]
    assert result["mean_ms"] * result["timed"] <= 2_000 * 1.05
    assert result["p50_ms"] < 20 <= 100 <= result["max_ms"]
    # about 1 in 20 requests paused: the p99 is a paused one, wrk's correction inflates below it
    assert result["p99_ms"] >= 100


@pytest.mark.skipif(not wrk_available(), reason="wrk is not installed (apt-get install wrk)")
def test_a_mix_takes_turns_by_weight_and_writes_fresh_heartbeat_batches(server_url) -> None:
    players = [(f"u{i}", f"s{i % 7}", f"ses{i}") for i in range(10)]
    kinds = [
        Bodies("recommend", "/recommend", [{"user_id": "u1"}, {"user_id": "u2"}], weight=3),
        HeartbeatBatches("events", players, batch=4, occurred_at="2026-12-04T10:00:00+00:00"),
    ]
    result = run_wrk_mix(server_url, kinds, concurrency=2, seconds=1)

    recommends = [b for b in SEEN if "user_id" in b]
    batches = [b["events"] for b in SEEN if "events" in b]
    # a request in flight when the run ends reaches the server but is not timed: one each
    assert 0 <= len(recommends) - result["recommend"]["requests"] <= 2 and len(recommends) > 20
    assert 0 <= len(batches) - result["events"]["requests"] <= 2 and len(batches) > 5
    assert abs(len(recommends) / len(batches) - 3) < 0.1  # 3 : 1 by weight, on each connection
    assert result["events"]["events"] == 4 * result["events"]["requests"]
    assert result["recommend"]["errors"] == result["events"]["errors"] == 0
    events = [event for batch in batches for event in batch]
    # every event id is new; a batch holds four different players, each on their own session
    assert len({e["event_id"] for e in events}) == len(events)
    assert all(len({e["user_id"] for e in batch}) == 4 for batch in batches)
    assert {(e["user_id"], e["slot_id"], e["session_id"]) for e in events} <= set(players)
    first = events[0]
    assert first["event_type"] == "heartbeat" and first["duration_seconds"] == 60
    assert first["occurred_at"] == "2026-12-04T10:00:00+00:00"
