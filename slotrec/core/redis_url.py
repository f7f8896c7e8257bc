"""The Redis online store's address: one `redis://` URL, turned into what each client wants.

Operators write a standard URL (`SLOTREC_REDIS_URL=redis://[[user]:password@]host:port/db`,
`rediss://` for TLS). Feast's Redis store wants its own connection string instead
(`host:port,db=0,password=...`, split on commas and `=`), and redis-py (the per-player locks)
takes the URL itself. Parsing once here refuses a bad URL when the settings load, with the
problem named, instead of at the first request.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

DEFAULT_PORT = 6379
# How long a client waits to connect / for one reply before the store counts as down (seconds):
# the service then answers without the live state instead of hanging on a lost host.
CONNECT_TIMEOUT_SECONDS = 2
REPLY_TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class RedisAddress:
    """A parsed Redis URL."""

    host: str
    port: int
    db: int
    username: str | None = None
    password: str | None = None
    ssl: bool = False

    def feast_connection_string(self) -> str:
        """Feast's `RedisOnlineStoreConfig.connection_string` for this address."""
        parts = [f"{self.host}:{self.port}", f"db={self.db}"]
        if self.username:
            parts.append(f"username={self.username}")
        if self.password:
            parts.append(f"password={self.password}")
        if self.ssl:
            parts.append("ssl=true")
        parts.append(f"socket_connect_timeout={CONNECT_TIMEOUT_SECONDS}")
        parts.append(f"socket_timeout={REPLY_TIMEOUT_SECONDS}")
        return ",".join(parts)


def parse_redis_url(url: str) -> RedisAddress:
    """Parse `redis://[[user]:password@]host[:port][/db]` (or `rediss://` for TLS).

    Raises:
        ValueError: the URL is not of that form; the message names the problem.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError(
            f"SLOTREC_REDIS_URL must start with redis:// or rediss://, got {url!r} "
            "(e.g. redis://127.0.0.1:6379/0)"
        )
    if not parts.hostname:
        raise ValueError(f"SLOTREC_REDIS_URL has no host: {url!r}")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError as exc:
        raise ValueError(f"SLOTREC_REDIS_URL has a bad port: {url!r}") from exc
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise ValueError(f"SLOTREC_REDIS_URL database must be a number (e.g. /0), got {path!r}")
    if parts.query:
        raise ValueError(f"SLOTREC_REDIS_URL takes no query parameters: {url!r}")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    for name, value in (("user name", username), ("password", password)):
        # Feast splits its connection string on commas and reads values after "=" as JSON.
        if value and ("," in value or "=" in value):
            raise ValueError(f"SLOTREC_REDIS_URL: a {name} with ',' or '=' is not supported")
    return RedisAddress(
        host=parts.hostname,
        port=port,
        db=int(path or 0),
        username=username,
        password=password,
        ssl=parts.scheme == "rediss",
    )
