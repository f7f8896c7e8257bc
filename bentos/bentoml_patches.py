"""What slotrec changes in BentoML 1.4, as one explicit start-up step (`apply`).

- Its request-timeout middleware keeps every request alive 30 s (`bentos.timeout_timer`).
- It logs a client's bad request as a server error with a traceback (`bentos.client_errors`).
- Its OpenAPI page introduces the service as "a Machine Learning Service created with BentoML",
  version None, contact "BentoML Team" (`describe_openapi`): slotrec's says what slotrec is.

`bentos.service` calls `apply` once, before BentoML builds its app. Each part is idempotent and
leaves BentoML as it was, with a warning, where BentoML changed shape.
"""

from __future__ import annotations

import logging
from typing import Any

from bentos.client_errors import log_client_errors_as_warnings
from bentos.timeout_timer import cancel_timeout_timers

log = logging.getLogger(__name__)

_DESCRIBED = "_slotrec_openapi_info"


def describe_openapi(service: Any, title: str, version: str, description: str) -> bool:
    """Give `service`'s OpenAPI page slotrec's own title, version, description and contact."""
    cls = type(service)
    original = getattr(cls, "openapi_spec", None)
    if not isinstance(original, property):
        log.warning("BentoML's Service has no openapi_spec property; its page keeps BentoML's")
        return False
    if getattr(original.fget, _DESCRIBED, None) is not None:
        getattr(original.fget, _DESCRIBED)[id(service)] = (title, version, description)
        return False
    described: dict[int, tuple[str, str, str]] = {id(service): (title, version, description)}

    def openapi_spec(self: Any) -> Any:
        spec = original.fget(self)  # type: ignore[misc]
        info = described.get(id(self))
        if info is None:
            return spec
        import attr
        from bentoml._internal.service.openapi.specification import Contact, Info

        contact = Contact(name="slotrec maintainers")
        return attr.evolve(
            spec, info=Info(title=info[0], version=info[1], description=info[2], contact=contact)
        )

    setattr(openapi_spec, _DESCRIBED, described)
    cls.openapi_spec = property(openapi_spec)
    return True


def apply() -> None:
    """Every patch slotrec needs of BentoML, before BentoML builds the service's app."""
    cancel_timeout_timers()
    log_client_errors_as_warnings()
