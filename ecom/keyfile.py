"""Small private files (the shop secret, the PostgreSQL password): written so that a crash never leaves half.

A key file is written to a fresh temporary file beside it (mode 0600 from the first byte), flushed to disk
with ``fsync``, then moved into place with one atomic step: ``link`` when it must not exist yet (two
processes racing to create it agree on the first one's key) or ``rename`` to replace it. The directory is
fsynced too, so after a power cut the name points at the whole file or at nothing, never at 0 bytes.
A temporary file left by a writer that died is never read; stale ones are removed.
"""
from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

STALE_TEMP_SECONDS = 60.0


def write_private(path: Path, text: str, *, replace: bool, owner: tuple[int, int] | None = None) -> bool:
    """Write ``text`` to ``path`` atomically with mode 0600 (owned by ``owner`` (uid, gid) when given).

    ``replace=False`` creates the file only if it does not exist and returns False when another writer
    got there first (its content wins). Returns True when this call's text is now in place.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(path)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        try:
            os.write(fd, text.encode())
            if owner is not None:
                os.fchown(fd, *owner)
            os.fchmod(fd, 0o600)
            os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.replace(temp, path)
        else:
            try:
                os.link(temp, path)
            except FileExistsError:
                return False
    finally:
        temp.unlink(missing_ok=True)
    _fsync_dir(path.parent)
    return True


def _remove_stale_temps(path: Path) -> None:
    cutoff = time.time() - STALE_TEMP_SECONDS
    for temp in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            if temp.lstat().st_mtime < cutoff:
                temp.unlink()
        except OSError:
            pass


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
