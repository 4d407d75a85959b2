"""Checks made before a shop starts anything, so that a broken environment is one line, not a traceback.

Why before: a busy broker port used to surface 43 lines deep, after PostgreSQL had started and while
the rest was stopping again; a data dir that is a file, or that this user cannot write, surfaced as an
``OSError`` from whichever part touched it first. Checked here, each is one line naming the thing and
the setting to change (``StartupError``: the CLI prints it and exits with status 2). The parts keep their
own handling for what changes after the check (a port taken a moment later is still one line there).
"""
from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

from .config import Config, ConfigError


class StartupError(ConfigError):
    """The environment cannot run the shop as configured; ``str(err)`` is one line (exit 2)."""


def check_data_dir(data_dir: Path) -> None:
    """The data dir is a folder this user can write (made if missing, like a first start does)."""
    if data_dir.exists() and not data_dir.is_dir():
        raise StartupError(f"data dir {data_dir} is not a folder: point --data-dir (or [server] data_dir) "
                           "at a folder, or move that file away")
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StartupError(f"cannot make data dir {data_dir}: {err.strerror or err}") from None
    if not os.access(data_dir, os.R_OK | os.W_OK | os.X_OK):
        st = data_dir.stat()
        raise StartupError(f"data dir {data_dir} is not writable by this user (uid {os.geteuid()}); it belongs to "
                           f"uid {st.st_uid} with mode {st.st_mode & 0o7777:04o}: run as its owner or fix its owner")
    check_data_dir_contents(data_dir)


# what the shop keeps in a data dir, and what each must be: found as something else, the part that opens it
# ended start-up in a traceback (IsADirectoryError, FileExistsError) or in PostgreSQL's log tail
FOLDERS = ("postgres", "pgsock", "mail", "plugins", "nginx", "backups")
FILES = ("secret.key", "postgres.password", "postgres.log", "owner.lock", "users.lock")


def check_data_dir_contents(data_dir: Path) -> None:
    """Each thing the shop keeps in the data dir is of its kind, and the cluster is the server's."""
    for name in FOLDERS:
        path = data_dir / name
        if path.exists() and not path.is_dir():
            raise StartupError(f"{path} should be a folder but is a file: move it away (or restore it from a backup)")
    for name in FILES:
        path = data_dir / name
        if path.is_dir():
            raise StartupError(f"{path} should be a file but is a folder: move it away (or restore it from a backup)")
    _check_cluster_owner(data_dir / "postgres")


def _check_cluster_owner(pgdata: Path) -> None:
    """PostgreSQL reads its cluster as the account it runs as: as root, the ``embedded_postgres`` system
    account (ecom.pgaccess), else this user. A cluster copied by another user (``cp -r`` as root keeps root
    as owner) made it exit with "Permission denied" in a 15-line log tail; said here in one line."""
    import pwd
    from .pgaccess import SERVER_ACCOUNT
    files = [f for f in (pgdata / "PG_VERSION", pgdata / "postgresql.conf") if f.exists()]
    if not files:
        return  # a new cluster: made by the right account on start
    if os.geteuid() == 0:
        try:
            uid = pwd.getpwnam(SERVER_ACCOUNT).pw_uid
        except KeyError:
            return  # no account yet: this cluster was never served as root; start-up makes the account
        account, fix = f"{SERVER_ACCOUNT} (uid {uid})", f"chown -R {SERVER_ACCOUNT}: {pgdata}"
    else:
        uid = os.geteuid()
        account, fix = f"this user (uid {uid})", "run as the cluster's owner, or have root chown it to this user"
    for path in files:
        owner = path.stat().st_uid
        if owner != uid:
            raise StartupError(f"{path} belongs to uid {owner}, but the embedded PostgreSQL runs as {account} "
                               f"and cannot read it (a copy made by another user keeps that owner): {fix}")


def listening_ports(config: Config, *, supervisor: bool) -> list[tuple[str, str, int, str]]:
    """(what, host, port, setting) for every port this start-up will listen on."""
    from . import nginx
    ports = [("HTTP", config.server.host, config.server.port, "--port or [server] port")]
    if supervisor:
        ports += [(f"worker {i + 1}", "127.0.0.1", port, "[server] worker_base_port")
                  for i, port in enumerate(nginx.worker_ports(config))]
    if not config.broker.url:
        ports.append(("embedded MQTT broker", config.broker.embedded_host, config.broker.embedded_port,
                      "[broker] embedded_port"))
    if not config.mail.url:
        ports.append(("embedded mail sink", config.mail.embedded_host, config.mail.embedded_port,
                      "[mail] embedded_port"))
    return ports


def check_ports(config: Config, *, supervisor: bool) -> None:
    """Every port is free to listen on, else one line naming the first busy one and its setting."""
    for what, host, port, setting in listening_ports(config, supervisor=supervisor):
        problem = _cannot_listen(host, port)
        if problem:
            raise StartupError(f"cannot listen on {host or '*'}:{port} ({what}): {problem}; stop what holds it "
                               f"or choose another port ({setting})")


def _cannot_listen(host: str, port: int) -> str | None:
    """Why binding ``host:port`` fails now, or None. SO_REUSEADDR as the servers use it: a port left in
    TIME_WAIT by a shop that just stopped is free for them, so it is free here too."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        return f"unknown host ({err.strerror})"
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as err:
                if err.errno == errno.EADDRINUSE:
                    return "the port is in use"
                return err.strerror or str(err)
    return None
