"""A fix for BentoML's request timeout, which kept every request alive for 30 seconds.

BentoML 1.4's `TimeoutMiddleware` arms `loop.call_later(timeout, ...)` for each request and
never cancels it. The timer handle holds the request's waiter and a copy of its context
(OpenTelemetry span, locks, futures), so every request's objects outlive it by the whole
timeout (`traffic.timeout`, 30 s here). At 900 requests a second that is ~27,000 live timers
and a quarter of a million objects in the oldest garbage-collector generation; each full
collection walked them all and stopped the worker for 50–180 ms, several times a minute
(measured with a `gc.callbacks` probe: the tracked objects grew from 110k to 200k in five
seconds of no-op load). Those pauses were the 100–320 ms `max_ms` of `slotrec bench serve`.

`cancel_timeout_timers` replaces the middleware's `__call__` with one that behaves the same
(504 JSON when the app has not started its response within the timeout, the app's task
cancelled) and cancels its timer as soon as the request is over. The service module applies
it at import, before BentoML builds its app. It is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

log = logging.getLogger(__name__)

_PATCHED = "_slotrec_cancels_its_timer"


async def _call_with_cancelled_timer(self: Any, scope: Scope, receive: Receive, send: Send) -> None:
    """`TimeoutMiddleware.__call__`, with the timer cancelled when the request ends."""
    if scope["type"] not in ("http", "websocket"):
        await self.app(scope, receive, send)
        return
    loop = asyncio.get_running_loop()
    started: asyncio.Future[None] = loop.create_future()  # done at the first message sent
    timer = loop.call_later(self.timeout, self._set_timer_out, started)

    async def send_and_mark(message: Message) -> None:
        if not started.done():
            started.set_result(None)
        await send(message)

    task = asyncio.ensure_future(self.app(scope, receive, send_and_mark))
    try:
        try:
            await started
        except TimeoutError:
            if task.cancel():
                error = {"error": f"Not able to process the request in {self.timeout} seconds"}
                await JSONResponse(error, status_code=504)(scope, receive, send)
            return
        await task
    finally:
        timer.cancel()  # the line BentoML lacks: frees the request's objects now


def cancel_timeout_timers() -> bool:
    """Patch BentoML's `TimeoutMiddleware` (see the module docstring); True if patched now."""
    from bentoml._internal.server.http.traffic import TimeoutMiddleware

    if getattr(TimeoutMiddleware, _PATCHED, False):
        return False
    if not hasattr(TimeoutMiddleware, "_set_timer_out"):
        log.warning("BentoML's TimeoutMiddleware changed shape; its timers are left as they are")
        return False
    TimeoutMiddleware.__call__ = _call_with_cancelled_timer  # type: ignore[method-assign]
    setattr(TimeoutMiddleware, _PATCHED, True)
    return True
