"""Per-player locks shared by every thread and process on one host.

A live-state update is read, change, write. Two workers applying events of the same player at
the same moment would otherwise both read the old state and the second write would drop the
first one's events. Each player hashes to one of `STRIPES` stripes; a stripe is a threading lock
(threads of one process) plus a POSIX record lock on one byte of a lock file beside the online
store (processes of one host). Locks are taken in stripe order, so two batches that touch the
same players cannot deadlock.

POSIX record locks belong to a process, not to a file descriptor: closing any descriptor of the
file drops them all, and two threads of one process never exclude each other with them. So one
process keeps one descriptor and one set of threading locks per lock file, shared by every
`StripedUserLocks` on that path.

With the Redis online store, service processes on several hosts update the same players, and a
host's file lock does not reach the others: `RedisUserLocks` holds one Redis lock per player
instead (SET NX with an expiry, released only by its owner), taken in key order like the stripes.
The expiry frees the lock of a process that died holding it; an update slower than the expiry
would lose its exclusivity (it logs a warning when it finds out), so the expiry is far above an
update's milliseconds.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

STRIPES = 1024
# A Redis player lock expires this long after it was taken, even if its holder died.
REDIS_LOCK_EXPIRY_SECONDS = 10.0
# How long an update waits for another process's hold on the same player before giving up.
REDIS_LOCK_WAIT_SECONDS = 10.0
REDIS_LOCK_PREFIX = "slotrec:live-lock:"
# Poll interval while another process holds the lock (redis-py's default, 0.1 s, would add up
# to 100 ms to a contended update that takes about a millisecond).
REDIS_LOCK_POLL_SECONDS = 0.002


class LockUnavailable(OSError):
    """A player lock could not be taken (its Redis does not answer, or the wait ran out).

    An `OSError`, like a lock file that cannot be used: callers treat both as "the live state is
    unavailable now".
    """


class UserLocks(Protocol):
    """Exclusive per-player locks around a live-state read, change, write."""

    def hold(self, keys: Iterable[str]) -> Any:
        """A context manager holding every key's lock for the body of the `with`."""
        ...


class _LockFile:
    """One process's handle on a lock file: a descriptor and a threading lock per stripe."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self.threads = [threading.Lock() for _ in range(STRIPES)]


_files: dict[Path, _LockFile] = {}
_files_lock = threading.Lock()


def _forget_after_fork() -> None:
    # A child does not inherit record locks, and a threading lock held by another thread at the
    # fork would never be released there: start from fresh handles.
    global _files_lock
    _files.clear()
    _files_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


def _lock_file(path: Path) -> _LockFile:
    with _files_lock:
        handle = _files.get(path)
        if handle is None:
            handle = _files[path] = _LockFile(path)
        return handle


def stripe_of(key: str) -> int:
    """The stripe a key maps to (stable across processes, unlike `hash`)."""
    return zlib.crc32(key.encode()) % STRIPES


class StripedUserLocks:
    """Exclusive per-key locks across the threads and processes of one host."""

    def __init__(self, path: Path) -> None:
        """Use the lock file at `path` (created on first use)."""
        self.path = path.resolve()

    @contextmanager
    def hold(self, keys: Iterable[str]) -> Iterator[None]:
        """Hold the locks of every key (a player id) for the body of the `with`."""
        handle = _lock_file(self.path)
        stripes = sorted({stripe_of(k) for k in keys})
        taken: list[int] = []
        try:
            for stripe in stripes:
                handle.threads[stripe].acquire()
                try:
                    fcntl.lockf(handle.fd, fcntl.LOCK_EX, 1, stripe)
                except BaseException:
                    handle.threads[stripe].release()
                    raise
                taken.append(stripe)
            yield
        finally:
            for stripe in reversed(taken):
                fcntl.lockf(handle.fd, fcntl.LOCK_UN, 1, stripe)
                handle.threads[stripe].release()


class RedisUserLocks:
    """Exclusive per-player locks across every process on every host that shares one Redis."""

    def __init__(
        self,
        client: Any,
        prefix: str = REDIS_LOCK_PREFIX,
        expiry_seconds: float = REDIS_LOCK_EXPIRY_SECONDS,
        wait_seconds: float = REDIS_LOCK_WAIT_SECONDS,
    ) -> None:
        """Lock players in the Redis `client` talks to (a `redis.Redis`).

        Args:
            client: The redis-py client (its timeouts bound each lock command).
            prefix: Namespace of the lock keys (`<prefix><player id>`).
            expiry_seconds: A held lock disappears after this long whatever its holder does.
            wait_seconds: Longest wait for a lock another process holds.
        """
        self.client = client
        self.prefix = prefix
        self.expiry_seconds = expiry_seconds
        self.wait_seconds = wait_seconds

    @contextmanager
    def hold(self, keys: Iterable[str]) -> Iterator[None]:
        """Hold the Redis locks of every key (a player id) for the body of the `with`.

        Raises:
            LockUnavailable: Redis did not answer, or a lock stayed taken for `wait_seconds`.
        """
        from redis.exceptions import RedisError

        taken: list[Any] = []
        try:
            # Sorted: two batches sharing players take them in the same order (no deadlock).
            for key in sorted(set(keys)):
                lock = self.client.lock(
                    self.prefix + key,
                    timeout=self.expiry_seconds,
                    blocking_timeout=self.wait_seconds,
                    sleep=REDIS_LOCK_POLL_SECONDS,
                )
                if not lock.acquire():
                    raise LockUnavailable(
                        f"player lock {key!r} still taken after {self.wait_seconds:g} s"
                    )
                taken.append(lock)
        except RedisError as exc:
            _release(taken, self.expiry_seconds)
            raise LockUnavailable(f"redis lock failed: {exc}") from exc
        except BaseException:
            _release(taken, self.expiry_seconds)
            raise
        try:
            yield
        finally:
            _release(taken, self.expiry_seconds)


def _release(locks: list[Any], expiry_seconds: float) -> None:
    """Release Redis locks, last taken first; one that cannot be released expires by itself."""
    from redis.exceptions import LockNotOwnedError, RedisError

    for lock in reversed(locks):
        try:
            lock.release()
        except LockNotOwnedError:
            log.warning(
                "player lock %s expired before its update finished (over %g s)",
                lock.name,
                expiry_seconds,
            )
        except RedisError as exc:
            log.warning("could not release player lock %s: %s", lock.name, exc)
    locks.clear()
