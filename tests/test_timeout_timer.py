"""The fix for BentoML's request timeout timer (`bentos.timeout_timer`), on its middleware."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from bentoml._internal.server.http.traffic import TimeoutMiddleware

from bentos.timeout_timer import cancel_timeout_timers

SCOPE = {"type": "http", "method": "POST", "path": "/noop", "headers": []}


async def _ok_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _slow_app(scope: Any, receive: Any, send: Any) -> None:
    await asyncio.sleep(10)


async def _serve(app: Any, timeout: float) -> tuple[list[dict], list[asyncio.TimerHandle]]:
    """One request through the middleware; the messages sent and the timers it armed."""
    loop = asyncio.get_running_loop()
    armed: list[asyncio.TimerHandle] = []
    call_later = loop.call_later

    def recording_call_later(delay: float, callback: Any, *args: Any) -> asyncio.TimerHandle:
        handle = call_later(delay, callback, *args)
        armed.append(handle)
        return handle

    loop.call_later = recording_call_later  # type: ignore[method-assign]
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    try:
        await TimeoutMiddleware(app, timeout=timeout)(SCOPE, receive, send)
    finally:
        loop.call_later = call_later  # type: ignore[method-assign]
    return sent, armed


def test_the_patch_is_applied_once() -> None:
    cancel_timeout_timers()  # the service module applies it at import; this makes sure
    assert cancel_timeout_timers() is False


def test_a_finished_request_leaves_no_live_timer() -> None:
    cancel_timeout_timers()
    sent, armed = asyncio.run(_serve(_ok_app, timeout=30))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 200
    # BentoML's own middleware left this 30 s timer armed, holding the request's objects
    assert len(armed) == 1 and armed[0].cancelled()


def test_a_request_past_the_timeout_still_gets_a_504() -> None:
    cancel_timeout_timers()
    sent, armed = asyncio.run(_serve(_slow_app, timeout=0.05))
    assert sent[0]["status"] == 504
    assert json.loads(sent[1]["body"]) == {
        "error": "Not able to process the request in 0.05 seconds"
    }
    assert armed[0].cancelled()  # the middleware's timer (the app's sleep armed another)
