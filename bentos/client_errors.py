"""A client's bad request is a warning line in the log, not a server error with a traceback.

BentoML 1.4 logs every exception an endpoint raises as `[ERROR] Exception on /onboard [POST]`
with the whole traceback: a body that breaks the schema (pydantic's ValidationError, answered
422 by `bentos.guard`) and a 4xx the service raises on purpose (404 for an unknown slot, 409 for
a refused reload) read exactly like a crash. An operator watching the log for errors, or an
alert counting them, cannot tell a misbehaving client from a broken service.

`log_client_errors_as_warnings` replaces the logging function BentoML's app calls with one that
looks at the exception being handled: a client error is one WARNING line naming the path, the
status and the reason; anything else goes to BentoML's own function, traceback and all. The
service applies it at start-up, before BentoML builds its app. It is idempotent.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from pydantic import ValidationError

log = logging.getLogger(__name__)

_PATCHED = "_slotrec_logs_client_errors_as_warnings"


def client_status(exc: BaseException | None) -> int | None:
    """The 4xx status a client gets for `exc`, or None when it is the server's fault."""
    from bentoml.exceptions import BentoMLException

    if isinstance(exc, ValidationError):
        return 422  # BentoML answers 400; the guard rewrites it to 422 with the fields
    if isinstance(exc, BentoMLException):
        status = int(exc.error_code.value)
        return status if 400 <= status < 500 else None
    return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        fields = ", ".join(
            ".".join(str(part) for part in error.get("loc", ())) or "body"
            for error in exc.errors(include_url=False)
        )
        return f"invalid request: {fields}"
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__


def log_client_errors_as_warnings() -> bool:
    """Patch BentoML's endpoint error logging (see the module docstring); True if patched now."""
    from _bentoml_impl.server import app as bentoml_app

    original = getattr(bentoml_app, "log_exception", None)
    if original is None:
        log.warning("BentoML's app has no log_exception any more; client errors log as errors")
        return False
    if getattr(original, _PATCHED, False):
        return False

    def log_exception(request: Any, exc_info: Any = True) -> None:
        exc = sys.exc_info()[1]  # called inside BentoML's `except` block
        status = client_status(exc)
        if status is None or exc is None:
            original(request, exc_info)
            return
        log.warning(
            "client error %d on %s [%s]: %s",
            status,
            request.url.path,
            request.method,
            _describe(exc),
        )

    setattr(log_exception, _PATCHED, True)
    bentoml_app.log_exception = log_exception
    return True
