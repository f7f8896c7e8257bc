"""The HTTP door: body size, admin token, and error bodies that name the field and the rule.

One ASGI middleware in front of the BentoML app:

- a body larger than `max_request_bytes` is refused with 413 before the service sees it;
- the admin endpoints (`slots`, `restrictions`, `reload`) need
  `Authorization: Bearer <SLOTREC_ADMIN_TOKEN>`: 401 without it, 403 with a wrong one
  (compared in constant time), 403 when no token is configured;
- BentoML answers a body that fails the pydantic schema with 400 and pydantic's error list;
  this turns it into 422 with `{"error", "detail": [{"field", "rule", "message"}]}`, and
  unwraps BentoML's other 4xx bodies into one JSON object.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from bentos import metrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ADMIN_PATHS = frozenset({"/slots", "/restrictions", "/reload"})


async def _send_json(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def validation_detail(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """pydantic's error list as {field, rule, message} entries."""
    return [
        {
            "field": ".".join(str(part) for part in error.get("loc", ())) or "body",
            "rule": error.get("type", "invalid"),
            "message": error.get("msg", ""),
        }
        for error in errors
    ]


def rewrite_error(status: int, body: bytes) -> tuple[int, bytes]:
    """422 for schema failures, one JSON object for every other 4xx body."""
    try:
        payload = json.loads(body)
    except ValueError:
        return status, body
    if isinstance(payload, list) and len(payload) == 1 and isinstance(payload[0], dict):
        payload = payload[0]
    if status == 400 and isinstance(payload, dict) and isinstance(payload.get("detail"), list):
        detail = validation_detail(payload["detail"])
        fields = ", ".join(d["field"] for d in detail)
        payload = {"error": f"invalid request: {fields}", "detail": detail}
        status = 422
    return status, json.dumps(payload).encode()


class RequestGuard:
    """ASGI middleware; `options` are resolved lazily so settings load in the worker."""

    def __init__(
        self,
        app: ASGIApp,
        settings_factory: Callable[[], Any],
        api_paths: frozenset[str],
    ) -> None:
        self.app = app
        self._settings_factory = settings_factory
        self._settings: Any = None
        self.api_paths = api_paths

    @property
    def settings(self) -> Any:
        if self._settings is None:
            self._settings = self._settings_factory()
        return self._settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path not in self.api_paths:
            await self.app(scope, receive, send)
            return
        endpoint = path.strip("/")
        refusal = self._admin_refusal(scope) if path in ADMIN_PATHS else None
        if refusal is not None:
            metrics.REQUESTS.labels(endpoint=endpoint, outcome="client_error").inc()
            await _send_json(send, refusal[0], {"error": refusal[1]})
            return
        body, too_big = await self._read_body(receive)
        if too_big:
            metrics.REQUESTS.labels(endpoint=endpoint, outcome="client_error").inc()
            limit = self.settings.max_request_bytes
            await _send_json(send, 413, {"error": f"request body over the {limit}-byte limit"})
            return
        await self.app(scope, _replay(body, receive), self._error_rewriter(send, endpoint))

    def _admin_refusal(self, scope: Scope) -> tuple[int, str] | None:
        token = self.settings.admin_token
        if token is None:
            return 403, "admin endpoints are disabled: no SLOTREC_ADMIN_TOKEN is configured"
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"authorization", b"").decode("latin-1")
        if not given.startswith("Bearer "):
            return 401, "admin endpoint: send 'Authorization: Bearer <admin token>'"
        if not hmac.compare_digest(given[7:].encode(), token.get_secret_value().encode()):
            return 403, "admin endpoint: wrong admin token"
        return None

    async def _read_body(self, receive: Receive) -> tuple[bytes, bool]:
        limit = self.settings.max_request_bytes
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return b"", True
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks), False

    def _error_rewriter(self, send: Send, endpoint: str) -> Send:
        state: dict[str, Any] = {"start": None, "body": []}

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                if 400 <= message["status"] < 500:
                    state["start"] = message  # hold it until the body is known
                    return
                if message["status"] >= 500:
                    metrics.REQUESTS.labels(endpoint=endpoint, outcome="server_error").inc()
                await send(message)
                return
            if state["start"] is None or message["type"] != "http.response.body":
                await send(message)
                return
            state["body"].append(message.get("body", b""))
            if message.get("more_body", False):
                return
            status, body = rewrite_error(state["start"]["status"], b"".join(state["body"]))
            metrics.REQUESTS.labels(endpoint=endpoint, outcome="client_error").inc()
            headers = [
                (k, v)
                for k, v in state["start"].get("headers", [])
                if k.lower() not in (b"content-length", b"content-type")
            ]
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        return wrapped


def _replay(body: bytes, upstream: Receive) -> Receive:
    """A `receive` that hands the already-read body to the app, then passes through."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await upstream()  # the client's disconnect, when it comes

    return receive
