"""Issue 9, findings 5 and 9: no local user reaches the embedded PostgreSQL; the shop secret is a key.

The PostgreSQL tests run as root (as the shop does when it switches to its ``embedded_postgres``
account) and try what another local user would: ``runuser -u nobody -- psql``.
"""
from __future__ import annotations

import asyncio
import os
import pwd
import secrets
import stat
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest
from embedded_postgres._commands import POSTGRES_BIN_PATH

from ecom.config import load_config
from ecom.embedded import EmbeddedPostgres
from ecom.keyfile import write_private
from ecom.pgaccess import SERVER_ACCOUNT, grant_search, server_account
from ecom.secret import SecretError, load_secret
from tests.test_cli import ROOT, port_of, run_py, write_config

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="runs the server under its own account, as root does")


def psql_as_nobody(socket_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "nobody", "--", str(POSTGRES_BIN_PATH / "psql"), "-w", "-h",
                           str(socket_dir), "-U", "postgres", "-d", "postgres", "-c", "SELECT 1"],
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


async def current_user(url: str) -> str:
    conn = await asyncpg.connect(url, timeout=15)
    try:
        return await conn.fetchval("SELECT current_user")
    finally:
        await conn.close()


def private_tree(tmp_path: Path) -> Path:
    """A data dir below a parent only root may list or enter (0700), as under /root."""
    parent = tmp_path / "private"
    parent.mkdir(mode=0o700)
    parent.chmod(0o700)
    return parent / "shop" / "data"


@pytest.fixture
def server(tmp_path):
    pg = EmbeddedPostgres(private_tree(tmp_path))
    pg.start()
    yield pg
    pg.stop()


@as_root
def test_nobody_is_refused_and_the_shop_gets_in(server):
    refused = psql_as_nobody(server.socket_dir)
    assert refused.returncode != 0, refused.stdout
    assert asyncio.run(current_user(server.url())) == "postgres"
    assert stat.S_IMODE(server.socket_dir.stat().st_mode) == 0o700
    assert server.socket_dir.stat().st_uid == pwd.getpwnam(SERVER_ACCOUNT).pw_uid
    assert stat.S_IMODE(server.password_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((server.data_dir / "postgres.log").stat().st_mode) == 0o600


@as_root
def test_a_wrong_or_missing_password_is_refused(server):
    assert server.password and server.password in server.url()
    with pytest.raises(asyncpg.InvalidPasswordError):
        asyncio.run(current_user(server.url().replace(server.password, "0" * len(server.password))))
    with pytest.raises((asyncpg.InvalidPasswordError, asyncpg.ClientConfigurationError)):
        asyncio.run(current_user(f"postgresql://postgres@/postgres?host={server.socket_dir}"))
    hba = (server.pgdata / "pg_hba.conf").read_text()
    rules = [line.split() for line in hba.splitlines() if line.strip() and not line.startswith("#")]
    assert rules and all(rule[-1] == "scram-sha-256" for rule in rules), hba


@as_root
def test_no_parent_directory_gains_read_for_others(tmp_path):
    data = private_tree(tmp_path)
    parents = [p for p in reversed(data.parents) if p.exists()]
    before = {p: p.stat().st_mode for p in parents}
    pg = EmbeddedPostgres(data)
    pg.start()
    try:
        widened = {str(p): oct(p.stat().st_mode) for p in parents
                   if p.stat().st_mode & ~before[p] & (stat.S_IRGRP | stat.S_IROTH | stat.S_IWGRP | stat.S_IWOTH)}
        assert not widened, f"parents gained read/write for group or others: {widened}"
        assert stat.S_IMODE(data.parent.parent.stat().st_mode) == 0o701  # search only, where it was needed
    finally:
        pg.stop()


@as_root
def test_the_server_account_and_its_processes_are_outside_group_0(server):
    subprocess.run(["usermod", "-a", "-G", "root", SERVER_ACCOUNT], check=True)  # as some platforms leave it
    try:
        server_account()
        groups = subprocess.run(["id", "-G", SERVER_ACCOUNT], capture_output=True, text=True, check=True).stdout
        assert "0" not in groups.split(), groups
    finally:
        subprocess.run(["gpasswd", "-d", SERVER_ACCOUNT, "root"], capture_output=True)
    status = Path(f"/proc/{server.process.pid}/status").read_text().splitlines()
    gids = next(l for l in status if l.startswith("Gid:")).split()[1:]
    extra = next(l for l in status if l.startswith("Groups:")).split()[1:]
    assert "0" not in gids and "0" not in extra, (gids, extra)


def make_trust_cluster(data: Path) -> None:
    """A data dir as the code before issue 9 made it: initdb --auth=trust, socket folder 0777."""
    account = server_account()
    pgdata, sock = data / "postgres", data / "pgsock"
    pgdata.mkdir(parents=True)
    sock.mkdir()
    grant_search(pgdata, account)
    os.chown(pgdata, account.uid, account.gid)
    os.chown(sock, account.uid, account.gid)
    pgdata.chmod(0o700)
    sock.chmod(0o777)
    subprocess.run([str(POSTGRES_BIN_PATH / "initdb"), "-D", str(pgdata), "--auth=trust", "--encoding=utf8",
                    "-U", "postgres"], check=True, capture_output=True, user=account.uid, group=account.gid)


@as_root
def test_an_old_trust_data_dir_is_upgraded_on_start(tmp_path):
    data = private_tree(tmp_path)
    make_trust_cluster(data)
    for round in (1, 2):  # the second start finds it upgraded already: same password, still closed
        pg = EmbeddedPostgres(data)
        pg.start()
        try:
            refused = psql_as_nobody(pg.socket_dir)
            assert refused.returncode != 0, f"round {round}: nobody got in: {refused.stdout}"
            assert "trust" not in (pg.pgdata / "pg_hba.conf").read_text()
            assert stat.S_IMODE(pg.socket_dir.stat().st_mode) == 0o700
            assert asyncio.run(current_user(pg.url())) == "postgres"
            with pytest.raises(asyncpg.InvalidPasswordError):
                asyncio.run(current_user(pg.url().replace(pg.password, "f" * len(pg.password))))
            if round == 1:
                first_password = pg.password
            else:
                assert pg.password == first_password
        finally:
            pg.stop()


@as_root
def test_a_lost_password_file_is_replaced_on_start(server):
    server.stop()
    server.password_file.unlink()
    again = EmbeddedPostgres(server.data_dir)
    again.start()
    try:
        assert asyncio.run(current_user(again.url())) == "postgres"
        assert psql_as_nobody(again.socket_dir).returncode != 0
    finally:
        again.stop()


# ------------------------------------------------------------------------------------------- the secret

def secret_config(data_dir: Path):
    return load_config(None, environ={}, overrides={"server": {"data_dir": str(data_dir)}}, root=ROOT)


def test_a_new_key_is_0600_and_whole_and_a_crashed_writers_temp_is_ignored(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    crashed = data / ".secret.key.0123456789ab.tmp"  # a writer that died half way: 10 of 64 digits
    crashed.write_text("abcdef0123")
    os.utime(crashed, (time.time() - 3600, time.time() - 3600))
    key = load_secret(secret_config(data))
    path = data / "secret.key"
    assert len(key) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == key.hex() and not crashed.exists()
    assert load_secret(secret_config(data)) == key  # read back, never made again


def test_a_crash_while_writing_leaves_no_partial_key_file(tmp_path, monkeypatch):
    path = tmp_path / "secret.key"

    def power_cut(*args, **kwargs):
        raise OSError(5, "simulated crash while the key is being written")
    monkeypatch.setattr(secrets, "token_hex", power_cut)  # the first start dies drawing the key
    with pytest.raises(OSError):
        load_secret(secret_config(tmp_path))
    monkeypatch.undo()
    assert not path.exists() or len(load_secret(secret_config(tmp_path))) == 32  # never the secret b""
    path.unlink(missing_ok=True)
    monkeypatch.setattr(os, "link", power_cut)  # the helper dies before the file is moved into place
    monkeypatch.setattr(os, "replace", power_cut)
    for replace in (False, True):
        with pytest.raises(OSError):
            write_private(path, "a" * 64 + "\n", replace=replace)
        assert not path.exists()
    monkeypatch.undo()
    key = load_secret(secret_config(tmp_path))  # the next start makes a whole key
    assert path.read_text().strip() == key.hex() and list(tmp_path.glob(".secret.key.*")) == []


def test_concurrent_first_starts_agree_on_one_key(tmp_path):
    from concurrent.futures import ThreadPoolExecutor
    config = secret_config(tmp_path / "data")
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: load_secret(config), range(16)))
    assert len(keys) == 1 and len(keys.pop()) == 32


@pytest.mark.parametrize("content, message", [(b"", "is empty"), (b"not-a-key\n", "is damaged"),
                                              (b"ab" * 8, "is damaged"), (b"\xff\xfe" * 32, "cannot read")])
def test_an_empty_or_damaged_key_is_refused_in_process(tmp_path, content, message):
    (tmp_path / "secret.key").write_bytes(content)
    with pytest.raises(SecretError, match=message):
        load_secret(secret_config(tmp_path))


def one_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("kind", ["empty", "garbage", "unreadable"])
def test_run_py_with_a_bad_key_exits_2_with_one_line(tmp_path, kind):
    config = write_config(tmp_path)
    key = tmp_path / "data" / "secret.key"
    key.parent.mkdir()
    if kind == "unreadable":
        key.mkdir()  # even root cannot read a folder as a key
    else:
        key.write_text("" if kind == "empty" else "hello, world")
    result = run_py("--config", str(config))
    assert result.returncode == 2, result.stderr
    assert one_line(result).startswith("ecom: ") and "secret.key" in result.stderr


def start_shop(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline()


def stop_shop(proc: subprocess.Popen) -> str:
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    return err


def test_data_without_a_key_is_refused_unless_rotated(tmp_path):
    config = write_config(tmp_path)
    proc, ready = start_shop("--config", str(config))
    err = stop_shop(proc)
    assert "ready at" in ready, err[-2000:]
    key = tmp_path / "data" / "secret.key"
    old = key.read_text()
    key.unlink()
    refused = run_py("--config", str(config))
    assert refused.returncode == 2, refused.stderr
    line = one_line(refused)
    assert "secret.key is missing" in line and "--rotate-secret" in line
    assert not key.exists()  # refused without making one
    proc, ready = start_shop("--config", str(config), "--rotate-secret")
    err = stop_shop(proc)
    assert f":{port_of(config)}" in ready and "ready at" in ready, err[-2000:]
    assert "made a new shop secret; voided:" in err and "sessions" in err and "card" in err
    assert len(key.read_text().strip()) == 64 and key.read_text() != old
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_rotate_refuses_when_the_secret_comes_from_config(tmp_path):
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("[security]\n", '[security]\nsecret_key = "from-config"\n'))
    result = run_py("--config", str(config), "--rotate-secret")
    assert result.returncode == 2 and "secret_key" in one_line(result)


def test_a_first_one_shot_command_makes_the_key_before_the_cluster(tmp_path):
    """`run.py migrate` (or seed, create-admin) on an empty data dir must make secret.key before it creates
    the PostgreSQL cluster; otherwise the shop it prepared refuses to start for want of a key."""
    config = write_config(tmp_path)
    migrated = run_py("migrate", "--config", str(config))
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    assert len((tmp_path / "data" / "secret.key").read_text().strip()) == 64
    proc, ready = start_shop("--config", str(config))
    err = stop_shop(proc)
    assert "ready at" in ready, err[-2000:]
