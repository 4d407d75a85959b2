"""Who owns the data directory, and the embedded PostgreSQL that lives in it.

``run.py`` (the owner) holds ``owner.lock`` exclusively for its whole life, so a second ``run.py`` on the
same data dir is refused with a clear message. One-shot commands (migrate, create-admin, seed) either
become the owner for a moment (starting PostgreSQL themselves) or, when a shop is already running,
share its server; sharers hold ``users.lock`` shared, and an owner waits for them before stopping.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Iterator

from .embedded import EmbeddedPostgres


class AlreadyRunning(RuntimeError):
    pass


class DataDirLock:
    def __init__(self, data_dir: Path, name: str = "owner.lock"):
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / name
        self._fd: int | None = None

    def acquire(self, shared: bool = False, blocking: bool = False, role: str = "") -> bool:
        """Take the lock; an exclusive holder writes ``<pid> <role>`` into it (see role())."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        flags = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if blocking else fcntl.LOCK_NB)
        try:
            fcntl.flock(fd, flags)
        except BlockingIOError:
            os.close(fd)
            return False
        if not shared:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {role}".strip().encode())  # one write: a reader never sees a pid alone
        self._fd = fd
        return True

    def holder(self) -> str:
        """The holder's pid (as text), "?" when unknown."""
        return (self._words() or ["?"])[0]

    def role(self) -> str:
        """What the holder said it is: "single", "supervisor", "command", or "" (an older ecom)."""
        words = self._words()
        return words[1] if len(words) > 1 else ""

    def _words(self) -> list[str]:
        try:
            return self.path.read_text().split()
        except (OSError, UnicodeDecodeError):
            return []

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


@contextlib.contextmanager
def own_data_dir(data_dir: Path, role: str = "") -> Iterator[DataDirLock]:
    """Exclusive ownership for a serving process; AlreadyRunning if another ecom holds it."""
    lock = DataDirLock(data_dir)
    if not lock.acquire(role=role):
        raise AlreadyRunning(f"ecom is already running on data dir {data_dir} (pid {lock.holder()}); "
                             "stop it first or use another --data-dir")
    try:
        yield lock
    finally:
        lock.release()


@contextlib.contextmanager
def embedded_postgres(data_dir: Path, max_connections: int, *, serving: bool,
                      role: str = "") -> Iterator[EmbeddedPostgres]:
    """The embedded server for ``data_dir``, running for the duration of the block.

    ``serving=True``: this process must be the owner (run.py), and says what it is in the lock (``role``:
    "single" or "supervisor"), so that `run.py reload` signals only a shop that has workers to restart.
    Otherwise share a running owner's server (or own it for the moment, as a "command").
    """
    server = EmbeddedPostgres(data_dir, max_connections=max_connections)
    users = DataDirLock(data_dir, "users.lock")
    if serving:
        with own_data_dir(data_dir, role):
            server.start()
            try:
                yield server
            finally:
                users.acquire(shared=False, blocking=True)  # wait for sharing commands to finish
                users.release()
                server.stop()
        return
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        owner = DataDirLock(data_dir)
        if owner.acquire(role="command"):
            try:
                server.start()
                try:
                    yield server
                finally:
                    users.acquire(shared=False, blocking=True)
                    users.release()
                    server.stop()
            finally:
                owner.release()
            return
        users.acquire(shared=True, blocking=True)
        try:
            if _wait_for_socket(server, 15):
                yield server
                return
        finally:
            users.release()
        time.sleep(0.1)  # the owner stopped meanwhile: try to become the owner
    raise AlreadyRunning(f"could not reach or start PostgreSQL in {data_dir}")


def _wait_for_socket(server: EmbeddedPostgres, timeout: float) -> bool:
    pidfile = server.pgdata / "postmaster.pid"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if (server.socket_dir / ".s.PGSQL.5432").exists() and "ready" in pidfile.read_text():
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False
