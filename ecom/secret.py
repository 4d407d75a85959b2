"""The shop's one secret, handled like a key. Shared by every worker.

Everything below is derived from it, so losing or replacing it voids exactly these (``VOIDED``): browser
sessions and their CSRF tokens (the session cookie key), the card tokens of payments not yet processed
(they can no longer be decrypted, so those payments fail), Idempotency-Key fingerprints of recent
checkouts, and the embedded broker's client passwords and event signatures in flight. API bearer tokens,
passwords and every database row stay valid: they do not depend on it.

Hence the rules: ``secret.key`` is written atomically (see :mod:`ecom.keyfile`); an empty, short, non-hex
or unreadable key stops start-up (``SecretError``, one line, exit 2) instead of becoming a weak or
different key; and a data dir that already holds a shop (its PostgreSQL cluster) but no key refuses to
start unless the operator asks for a new one (``run.py --rotate-secret``), which then says what it voided.
"""
from __future__ import annotations

import hashlib
import secrets
import string
from pathlib import Path

from .config import Config, ConfigError
from .keyfile import write_private

KEY_HEX_CHARS = 64
VOIDED = ("browser sessions (everyone signs in again) and their CSRF tokens",
          "card tokens of payments not yet processed (those payments fail)",
          "Idempotency-Key fingerprints of recent checkouts",
          "broker client passwords and event signatures in flight (every process restarts with the new key)")


class SecretError(ConfigError):
    """The shop secret is missing, damaged or unreadable: start-up stops with one line (exit 2)."""


def secret_path(config: Config) -> Path:
    return config.data_dir / "secret.key"


def holds_data(data_dir: Path) -> bool:
    """True when ``data_dir`` already holds a shop: its embedded PostgreSQL cluster exists."""
    return (data_dir / "postgres" / "PG_VERSION").exists()


def load_secret(config: Config) -> bytes:
    """32 bytes from ``[security] secret_key`` (any string), else from ``<data_dir>/secret.key``.

    The key file is made on the first start of an empty data dir only; see the module docstring."""
    if config.security.secret_key:
        return hashlib.sha256(config.security.secret_key.encode()).digest()
    path = secret_path(config)
    if not path.exists() and not path.is_symlink():
        if holds_data(config.data_dir):
            raise SecretError(f"{path} is missing but {config.data_dir} holds a shop's data: restore secret.key "
                              "from your backup, or start with --rotate-secret to make a new one (voids "
                              "sessions and pending card payments; see docs/operations.md)")
        write_private(path, secrets.token_hex(32) + "\n", replace=False)  # a racing creator's key wins
    return _read(path)


def rotate_secret(config: Config) -> tuple[str, ...]:
    """Replace (or create) ``secret.key`` with a new random key; returns what that voided."""
    if config.security.secret_key:
        raise SecretError("--rotate-secret: the secret comes from [security] secret_key; change it there")
    write_private(secret_path(config), secrets.token_hex(32) + "\n", replace=True)
    return VOIDED


def _read(path: Path) -> bytes:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or "not ASCII text"
        raise SecretError(f"cannot read {path}: {reason}") from None
    if not text:
        raise SecretError(f"{path} is empty (a first start that died while writing it, or a full disk?): "
                          "restore it from your backup, or start with --rotate-secret")
    if len(text) != KEY_HEX_CHARS or any(c not in string.hexdigits for c in text):
        raise SecretError(f"{path} is damaged (expected {KEY_HEX_CHARS} hex digits, found {len(text)} "
                          "characters): restore it from your backup, or start with --rotate-secret")
    return bytes.fromhex(text)
