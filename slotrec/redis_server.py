"""Running Debian's `redis-server` for the Redis online store (`slotrec redis start`, tests).

The command line is built in one place so the operator's command and the tests' server are the
same server. Persistence: the operator's server appends every write to an append-only file in
`--dir` (fsynced once a second), so a restart keeps the live state and the materialized
snapshots; the raw event files stay the durable record of events either way. Tests run without
persistence.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

REDIS_SERVER = "redis-server"


class RedisServerMissing(RuntimeError):
    """`redis-server` is not on the PATH."""


def redis_server_binary() -> str:
    """The path of `redis-server`.

    Raises:
        RedisServerMissing: not installed (the message says how to install it).
    """
    found = shutil.which(REDIS_SERVER)
    if found is None:
        raise RedisServerMissing(
            "redis-server is not installed: `apt-get install -y redis-server` (Debian/Ubuntu), "
            "or point SLOTREC_REDIS_URL at a running Redis"
        )
    return found


def redis_server_command(
    port: int, data_dir: Path, *, bind: str = "127.0.0.1", persist: bool = True
) -> list[str]:
    """The `redis-server` command line of one server in the foreground.

    Args:
        port: TCP port.
        data_dir: Its working directory (append-only file, if any).
        bind: Address(es) to listen on; `0.0.0.0` for other hosts (then protect it by network).
        persist: Keep an append-only file in `data_dir` (fsync every second).
    """
    command = [
        redis_server_binary(),
        "--port", str(port),
        "--bind", bind,
        "--dir", str(data_dir),
        "--daemonize", "no",
        "--save", "",  # no RDB snapshots: the append-only file (or nothing) instead
        "--appendonly", "yes" if persist else "no",
        "--appendfsync", "everysec",
    ]  # fmt: skip
    if bind not in ("127.0.0.1", "localhost", "::1"):
        command += ["--protected-mode", "no"]
    return command


def wait_until_answering(host: str, port: int, timeout: float = 10.0) -> None:
    """Wait until a Redis at host:port answers PING.

    Raises:
        TimeoutError: no PONG within `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1.0) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(64).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"redis-server at {host}:{port} did not answer in {timeout:g} s")
        time.sleep(0.05)


def start_redis_server(
    port: int, data_dir: Path, *, persist: bool = False, log_path: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start a local `redis-server` on 127.0.0.1:`port` and return once it answers.

    The caller stops it (`terminate()`). Raises `RedisServerMissing` or `TimeoutError`.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    log = (log_path or data_dir / "redis.log").open("wb")
    process = subprocess.Popen(
        redis_server_command(port, data_dir, persist=persist),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()  # the child has its own descriptor
    try:
        wait_until_answering("127.0.0.1", port)
    except TimeoutError:
        process.kill()
        process.wait()
        raise
    return process
