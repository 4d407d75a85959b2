"""The shop's one secret: signs sessions and derives broker passwords. Shared by every worker."""
from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from .config import Config


def load_secret(config: Config) -> bytes:
    """32 bytes from ``[security] secret_key`` (any string), else from ``<data_dir>/secret.key``, made once."""
    if config.security.secret_key:
        return hashlib.sha256(config.security.secret_key.encode()).digest()
    path: Path = config.data_dir / "secret.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())
