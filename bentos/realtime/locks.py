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
"""

from __future__ import annotations

import fcntl
import os
import threading
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

STRIPES = 1024


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
