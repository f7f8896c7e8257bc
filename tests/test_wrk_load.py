"""The wrk load driver of `slotrec bench serve`, against a tiny local HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from benchmarks.wrk_load import _lua_string, run_wrk, wrk_available

SEEN: list[dict] = []


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        SEEN.append(body)
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
    result = run_wrk(server_url, "/recommend", bodies, concurrency=2, seconds=1)
    assert result["generator"] == "wrk"
    assert result["requests"] > 10 and result["rps"] > 0
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
    # every second body is refused with a 422: about half the requests are errors
    assert abs(result["errors"] - result["requests"] / 2) <= 2
    assert {b["user_id"] for b in SEEN} == {"u1", "u2"}
