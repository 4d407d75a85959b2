"""The standard parts an operator installs from Debian, run the way the docs tell (docs/operations.md,
"Several machines"): PostgreSQL 15 clusters made with initdb/pg_ctl as the ``postgres`` user, and
Mosquitto 2 with a password file (mosquitto_passwd), an ACL file and persistence.

Each part lives in a temporary folder of its own and is stopped by ``stop()`` even half-started.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"

# What an operator sets on a database server whose clients may vanish (a host cut off): without these a
# dead client's transaction keeps its row locks until the kernel gives up on the socket (hours), and every
# checkout of the same product queues behind it.
PG_SETTINGS = {
    "max_connections": "200",
    "idle_in_transaction_session_timeout": "5s",
    "tcp_keepalives_idle": "3", "tcp_keepalives_interval": "1", "tcp_keepalives_count": "3",
    "tcp_user_timeout": "6000",
    "shared_buffers": "32MB",
}


def as_postgres(*cmd: str, timeout: float = 60) -> subprocess.CompletedProcess:
    result = subprocess.run(["runuser", "-u", "postgres", "--", *cmd], capture_output=True, text=True,
                            timeout=timeout)
    if result.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result


class PostgresCluster:
    """One PostgreSQL 15 server: its own data dir, port, socket dir; role ``ecom`` with a password."""

    def __init__(self, root: Path, name: str, listen: list[str], port: int, password: str):
        self.dir, self.listen, self.port, self.password = root / name, listen, port, password
        self.data, self.socket = self.dir / "data", self.dir / "socket"

    def start(self, clients: str) -> None:
        self.dir.mkdir(parents=True)
        self.socket.mkdir()
        shutil.chown(self.dir, "postgres", "postgres")
        shutil.chown(self.socket, "postgres", "postgres")
        as_postgres(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-E", "UTF8",
                    "--locale", "C.UTF-8", "-A", "trust")
        with (self.data / "pg_hba.conf").open("w") as hba:  # the socket for the admin, passwords on the wire
            hba.write(f"local all postgres trust\nhost all ecom {clients} scram-sha-256\n"
                      "host all ecom 127.0.0.1/32 scram-sha-256\n")
        settings = {**PG_SETTINGS, "listen_addresses": f"'{','.join(self.listen)}'", "port": str(self.port),
                    "unix_socket_directories": f"'{self.socket}'"}
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "postgres.log"),
                    "-w", "-t", "60", "start")
        as_postgres(str(PG_BIN / "psql"), "-h", str(self.socket), "-p", str(self.port), "-U", "postgres",
                    "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c",
                    f"CREATE ROLE ecom LOGIN CREATEDB PASSWORD '{self.password}'")

    def url(self, host: str, database: str = "") -> str:
        return f"postgresql://ecom:{self.password}@{host}:{self.port}/{database}"

    def admin_dsn(self, database: str) -> dict:
        """asyncpg keyword arguments for the superuser over the socket (the test's own checks)."""
        return {"host": str(self.socket), "port": self.port, "user": "postgres", "database": database}

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.data),
                            "-m", "immediate", "-w", "-t", "30", "stop"], capture_output=True, timeout=60)


class Mosquitto:
    """Mosquitto 2: no anonymous clients, one user per worker, ACLs for ecom/# only, persistent sessions.

    Plus one user the workers never get, ``prober``: reads everything, writes only under ``acl-probe/``
    (outside ecom/, so it can never forge a shop event). MQTT 3.1.1 drops a refused PUBLISH without a
    word, and Mosquitto 2.0's acl_file grants every SUBSCRIBE and filters at delivery instead, so "refused"
    can only be shown by what arrives: the prober sees that a worker's publish outside ecom/ went nowhere,
    and publishes outside ecom/ what a worker must not receive (test_broker_acl.py). The workers' rules
    are the ones an operator writes, unchanged."""

    PROBER, PROBE_TOPICS = "prober", "acl-probe"

    def __init__(self, root: Path, listen: str, port: int, users: dict[str, str]):
        self.dir, self.listen, self.port, self.users = root / "mosquitto", listen, port, users
        self.prober_password = secrets.token_hex(12)
        self.proc: subprocess.Popen | None = None

    def configure(self) -> None:
        self.dir.mkdir()
        (self.dir / "data").mkdir()
        passwd = self.dir / "passwd"
        accounts = {**self.users, self.PROBER: self.prober_password}
        for i, (user, password) in enumerate(accounts.items()):
            subprocess.run([MOSQUITTO_PASSWD, *(["-c"] if i == 0 else []), "-b", str(passwd), user, password],
                           check=True, capture_output=True, timeout=30)
        # the same rules as ecom's own broker (ecom/broker/acl.py): app users publish and subscribe under
        # ecom/ and nothing else; Mosquitto judges a $share/<group>/<filter> subscription by its filter
        (self.dir / "acl").write_text("".join(f"user {user}\ntopic readwrite ecom/#\n\n" for user in self.users)
                                      + f"user {self.PROBER}\ntopic read #\ntopic write {self.PROBE_TOPICS}/#\n")
        (self.dir / "mosquitto.conf").write_text(
            f"per_listener_settings false\nallow_anonymous false\npassword_file {passwd}\n"
            f"acl_file {self.dir / 'acl'}\nlistener {self.port} {self.listen}\n"
            f"persistence true\npersistence_location {self.dir / 'data'}/\nautosave_interval 5\n"
            "max_queued_messages 100000\nmax_inflight_messages 100\n"
            f"log_dest file {self.dir / 'mosquitto.log'}\nlog_type error\nlog_type warning\nlog_type notice\n"
            "connection_messages true\n")
        for path in [self.dir, *self.dir.rglob("*")]:
            shutil.chown(path, "mosquitto", "mosquitto")
            os.chmod(path, 0o700 if path.is_dir() else 0o600)

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.dir / "mosquitto.conf")],
                                     stdout=subprocess.DEVNULL, stderr=open(self.dir / "stderr.log", "a"),
                                     start_new_session=True)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log(self) -> str:
        parts = [self.dir / "mosquitto.log", self.dir / "stderr.log"]
        return "".join(p.read_text(errors="replace")[-3000:] for p in parts if p.exists())


def wait_port(host: str, port: int, timeout: float = 30.0) -> None:
    import socket
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing answers on {host}:{port} after {timeout} s")
            time.sleep(0.1)
