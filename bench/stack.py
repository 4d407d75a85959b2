"""The processes a bench measures: `run.py --instances N` on a seeded data dir, and the bare baseline (N
`bench/baseline_app.py` processes) behind an nginx rendered by ecom's own template (same config, only the
upstreams and the port differ). Every server listens on 127.0.0.1.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def free_port(pairs: int = 1) -> int:
    """A free loopback port; ``pairs=2``: one whose next port is free too (workers take base, base + 1, ...)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        ok = True
        for extra in range(1, pairs):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port + extra))
                except OSError:
                    ok = False
        if ok:
            return port
    raise RuntimeError("no free loopback ports")


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def clean_env() -> dict[str, str]:
    """Our environment without ECOM__* overrides: the bench config alone decides."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ECOM__")}


def stop(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ------------------------------------------------------------------ ecom

def write_shop_config(tmp: Path, instances: int, **sections: dict) -> Path:
    """A config for a bench shop in ``tmp``: free ports, rate limits out of the way (one client address makes
    all the load), cheap password hashing (only log-ins pay it), payments at once."""
    values: dict[str, dict] = {
        "server": {"port": free_port(), "data_dir": str(tmp / "data"), "log_level": "warning",
                   "worker_base_port": free_port(pairs=instances), "instances": instances},
        "broker": {"embedded_port": free_port()},
        "mail": {"embedded_port": free_port()},
        "security": {"rate_limit_per_minute": 0, "auth_rate_limit_per_minute": 0, "argon2_time_cost": 1,
                     "argon2_memory_kib": 8192},
        "nginx": {"general_rate": "100000r/s", "general_burst": 100000, "auth_rate": "100000r/s",
                  "auth_burst": 100000},
        "plugins.payments": {"delay_seconds": 0},
    }
    for name, more in sections.items():
        values.setdefault(name, {}).update(more)
    text = []
    for name, fields in values.items():
        text.append(f"[{name}]")
        for key, value in fields.items():
            text.append(f"{key} = {json.dumps(value)}")  # strings, numbers, lists: JSON spells them as TOML does
    path = tmp / f"config-{instances}.toml"
    path.write_text("\n".join(text) + "\n")
    return path


def shop_port(config: Path) -> int:
    import tomllib
    return tomllib.loads(config.read_text())["server"]["port"]


def seed_shop(config: Path, products: int) -> float:
    """`run.py seed --products N`; returns the seconds it took."""
    started = time.monotonic()
    subprocess.run([sys.executable, str(ROOT / "run.py"), "seed", "--products", str(products), "--config",
                    str(config)], check=True, cwd=ROOT, capture_output=True, env=clean_env())
    return time.monotonic() - started


def start_shop(config: Path, instances: int) -> tuple[subprocess.Popen, str]:
    """`run.py --instances N`; returns the supervisor and nginx's URL once it says it is ready."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--instances", str(instances), "--config",
                             str(config)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=clean_env())
    line = proc.stdout.readline()
    if "ready at" not in line:
        stop(proc)
        raise RuntimeError(f"shop did not start: {line!r}")
    return proc, f"http://127.0.0.1:{shop_port(config)}"


def postgres_url(config: Path, database: str) -> str:
    """A superuser URL of the shop's embedded PostgreSQL (it must be running)."""
    import tomllib
    from ecom.embedded import EmbeddedPostgres
    data_dir = Path(tomllib.loads(config.read_text())["server"]["data_dir"])
    return EmbeddedPostgres(data_dir).url(database)


# ------------------------------------------------------------------ the bare baseline

async def make_baseline_db(config: Path, database: str = "bench_baseline") -> str:
    """The baseline's own database on the shop's server: its schema, and the shop's active products."""
    import asyncpg
    from baseline_app import SCHEMA

    admin = await asyncpg.connect(postgres_url(config, "postgres"))
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {database}")
        await admin.execute(f"CREATE DATABASE {database}")
    finally:
        await admin.close()
    url = postgres_url(config, database)
    src, dst = await asyncpg.connect(postgres_url(config, "ecom_products")), await asyncpg.connect(url)
    try:
        await dst.execute(SCHEMA)
        rows = await src.fetch("SELECT id, seller_id, name, description, price_cents, currency, type, sku, created_at "
                               "FROM products WHERE active AND deleted_at IS NULL ORDER BY id")
        await dst.copy_records_to_table("products", records=[tuple(r) for r in rows],
                                        columns=["id", "seller_id", "name", "description", "price_cents", "currency",
                                                 "type", "sku", "created_at"])
        await dst.execute("ANALYZE products")
    finally:
        await src.close()
        await dst.close()
    return url


class Baseline:
    """N baseline_app.py processes and their nginx (ecom's template: same config, these upstreams)."""

    def __init__(self, tmp: Path, shop_config: Path, dsn: str, instances: int):
        self.tmp, self.shop_config, self.dsn, self.instances = tmp, shop_config, dsn, instances
        self.apps: list[subprocess.Popen] = []
        self.nginx: subprocess.Popen | None = None
        self.url = ""

    def pids(self) -> list[int]:
        return [p.pid for p in [*self.apps, *([self.nginx] if self.nginx else [])] if p.poll() is None]

    def start(self) -> str:
        from ecom import nginx
        from ecom.config import load_config
        from ecom.plugin import load_plugins

        ports = [free_port() for _ in range(self.instances)]
        env = {**clean_env(), "BENCH_DSN": self.dsn}
        for port in ports:
            self.apps.append(subprocess.Popen([sys.executable, str(BENCH / "baseline_app.py"), "--port", str(port)],
                                              cwd=BENCH, env=env, stdin=subprocess.DEVNULL))
        for port in ports:
            wait_http(f"http://127.0.0.1:{port}/hello")
        public = free_port()
        config = load_config(self.shop_config, environ={}, overrides={
            "server": {"port": public, "data_dir": str(self.tmp / "baseline")},
            "nginx": {"upstreams": [f"127.0.0.1:{p}" for p in ports]}})
        conf = nginx.write(config, load_plugins(config))
        binary = nginx.find_binary(config)
        self.nginx = subprocess.Popen([binary, "-p", str(conf.parent), "-c", str(conf), "-g", "daemon off;"],
                                      stdin=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{public}"
        wait_http(self.url + "/hello")
        return self.url

    def stop(self) -> None:
        stop(self.nginx, signal.SIGQUIT, 10)
        for app in self.apps:
            stop(app, timeout=10)
