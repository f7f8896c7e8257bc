"""The answers an endpoint gives instead of a result, as plain exceptions.

The application (`bentos.app`) raises these; the BentoML service maps each onto its HTTP
status (`bentos.service`), so the application is tested without BentoML and the status of an
outcome is decided in one place.
"""

from __future__ import annotations


class EndpointError(Exception):
    """An outcome the caller is told about with a status and this message."""


class NotFound(EndpointError):
    """The request names something the service does not know (404)."""


class Unavailable(EndpointError):
    """The service cannot answer this now, through no fault of the request (503)."""


class Conflict(EndpointError):
    """The request conflicts with the state of the service (409): a refused reload."""
