"""Run the HTTP service as operators run it: `bentoml serve` in a subprocess on loopback.

The serving benchmark, the soak test and the closed-loop demo all need a real served process,
started on a free port with their own settings in the environment and stopped cleanly. They
share this module so that "ready" means the same thing everywhere: `/readyz` answers 200 (a
bundle serves and the online store answers).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bentos.native_threads import ONE_THREAD_ENV
from slotrec.core.settings import REPO_ROOT


def workers_for(requested: int = 0) -> int:
    """Worker processes to serve with: `requested`, or one per CPU core when it is 0.

    One per core by default: a worker's event loop and its request thread share one GIL, so a
    single process serves about one core's worth of Python (see the README's serving benchmark).
    """
    return requested or (os.cpu_count() or 1)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_service(
    env: dict[str, str],
    log_path: Path,
    *,
    start_seconds: float = 300.0,
    not_ready_grace_seconds: float | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `bentoml serve bentos.service:SlotrecService` and wait until `/readyz` is 200.

    Args:
        env: Settings for the service (`SLOTREC_*`, `BENTOML_HOME`, ...), on top of this
            process's environment.
        log_path: Where the service's stdout and stderr go.
        start_seconds: Give up (and stop the process) after this long.
        not_ready_grace_seconds: Once `/livez` answers but `/readyz` does not, wait at most this
            much longer (a service up without a bundle would stay unready); None: no shortcut.

    Returns:
        The process and its base URL.

    Raises:
        RuntimeError: the process exited or was not ready in time (with the log's last errors).
    """
    port = free_port()
    # one native thread per request from the first one on (see bentos.native_threads)
    full_env = {**os.environ, "BENTOML_DO_NOT_TRACK": "true", **ONE_THREAD_ENV, **env}
    command = [sys.executable, "-m", "bentoml", "serve", "bentos.service:SlotrecService"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=full_env, stdout=log_file, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + start_seconds
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"bentoml serve exited: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    return process, url
                live = httpx.get(f"{url}/livez", timeout=5).status_code == 200
                if live and not_ready_grace_seconds is not None:
                    deadline = min(deadline, time.monotonic() + not_ready_grace_seconds)
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        errors = [line for line in log_path.read_text().splitlines() if "[ERROR]" in line]
        raise RuntimeError(
            f"bentoml serve was not ready in time ({'; '.join(errors[-3:]) or 'no error logged'});"
            f" see {log_path}"
        )
    except BaseException:
        stop_service(process)
        raise


def stop_service(process: subprocess.Popen[bytes]) -> None:
    """Stop the service (SIGTERM, then SIGKILL after 30 s)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
