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

    def acquire(self, shared: bool = False, blocking: bool = False) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        flags = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if blocking else fcntl.LOCK_NB)
        try:
            fcntl.flock(fd, flags)
        except BlockingIOError:
            os.close(fd)
            return False
        if not shared:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return True

    def holder(self) -> str:
        try:
            return self.path.read_text().strip() or "?"
        except OSError:
            return "?"

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


@contextlib.contextmanager
def own_data_dir(data_dir: Path) -> Iterator[DataDirLock]:
    """Exclusive ownership for a serving process; AlreadyRunning if another ecom holds it."""
    lock = DataDirLock(data_dir)
    if not lock.acquire():
        raise AlreadyRunning(f"ecom is already running on data dir {data_dir} (pid {lock.holder()}); "
                             "stop it first or use another --data-dir")
    try:
        yield lock
    finally:
        lock.release()


@contextlib.contextmanager
def embedded_postgres(data_dir: Path, max_connections: int, *, serving: bool) -> Iterator[EmbeddedPostgres]:
    """The embedded server for ``data_dir``, running for the duration of the block.

    ``serving=True``: this process must be the owner (run.py). Otherwise share a running owner's server.
    """
    server = EmbeddedPostgres(data_dir, max_connections=max_connections)
    users = DataDirLock(data_dir, "users.lock")
    if serving:
        with own_data_dir(data_dir):
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
        if owner.acquire():
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
