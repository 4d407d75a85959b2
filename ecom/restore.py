"""``run.py restore FILE --data-dir NEW``: a backup archive (see :mod:`ecom.backup`) back into an empty data dir.

Only into a new or empty data dir: restoring over a shop would mix two shops' rows, files and secrets, so
anything there is refused (one line, exit 2). The archive is read and checked whole before anything is
placed (a truncated or foreign archive fails first), then the cluster is created, each database restored
with the embedded ``pg_restore``, and the files and the secret put back. A restore that fails half-way
removes what it made, so the data dir is empty again and a second try starts clean.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import time
import zlib
from pathlib import Path

from .backup import FORMAT, KIND, TOP_LEVEL, BackupError, BackupFailed, embedded_only, run_tool
from .config import Config
from .datadir import AlreadyRunning, own_data_dir
from .embedded import EmbeddedPostgres
from .keyfile import write_private
from .secret import holds_data

LOCK_FILES = {"owner.lock", "users.lock"}  # left by a restore that failed: the dir still counts as empty
DB_NAME = re.compile(r"[A-Za-z0-9_]{1,63}")


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


def restore(config: Config, archive: Path) -> dict:
    """Into an empty data dir: the cluster, every database, the plugins' files, the Maildir, the secret."""
    embedded_only(config, "restore")
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
    run_tool("pg_restore", ["--exit-on-error", "--single-transaction", "--no-owner", f"--dbname={name}",
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
