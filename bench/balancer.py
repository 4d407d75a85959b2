"""Requests/s of the catalog page through nginx with 1 and with N workers, against a plain aiohttp
"hello" on the same machine in the same run (the ratio is what to compare across machines).

    apt-get install -y wrk        # the load generator (Debian package)
    .venv/bin/python bench/balancer.py --instances 3 --seconds 10 --connections 32

Every server listens on 127.0.0.1 only; every load run is bounded by --seconds. The catalog is
measured twice: "uncached" sends a cookie so nginx's page cache is bypassed and the app renders every
page; "cached" is what anonymous shoppers get (nginx serves the app's `public, max-age` answer).
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import free_port

ROOT = Path(__file__).resolve().parent.parent
HELLO = """
from aiohttp import web
async def hello(request): return web.Response(text="hello")
app = web.Application(); app.router.add_get("/", hello)
web.run_app(app, host="127.0.0.1", port={port}, access_log=None, print=None)
"""


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def wrk(url: str, seconds: int, connections: int, threads: int, cookie: bool = False) -> float:
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", url]
    if cookie:
        args[1:1] = ["-H", "Cookie: ecom_session=bench-no-cache"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"{url}: {non2xx.group(1)} failed responses\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def start_shop(tmp: Path, instances: int, products: int) -> tuple[subprocess.Popen, str]:
    port, broker = free_port(), free_port()
    config = tmp / f"config-{instances}.toml"
    config.write_text(f"""
[server]
port = {port}
data_dir = "{tmp / 'data'}"
log_level = "warning"
worker_base_port = {free_port()}
[broker]
embedded_port = {broker}
[security]
rate_limit_per_minute = 0
[nginx]
general_rate = "100000r/s"
general_burst = 100000
""")
    if not (tmp / "data").exists():
        subprocess.run([sys.executable, str(ROOT / "run.py"), "seed", "--products", str(products), "--config",
                        str(config)], check=True, cwd=ROOT, capture_output=True)
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--instances", str(instances), "--config",
                             str(config)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if "ready at" not in line:
        raise RuntimeError(f"shop did not start: {line!r}")
    return proc, f"http://127.0.0.1:{port}"


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--products", type=int, default=2000)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/balancer.py needs wrk: apt-get install -y wrk")
    load = dict(seconds=args.seconds, connections=args.connections, threads=args.threads)
    report: dict = {"load": load, "products": args.products, "requests_per_second": {}}
    rps = report["requests_per_second"]

    port = free_port()
    hello = subprocess.Popen([sys.executable, "-c", HELLO.format(port=port)])
    try:
        wait_http(f"http://127.0.0.1:{port}/")
        rps["aiohttp hello (baseline)"] = wrk(f"http://127.0.0.1:{port}/", **load)
    finally:
        hello.send_signal(signal.SIGTERM)
        hello.wait(10)

    with tempfile.TemporaryDirectory(prefix="ecom-balancer-") as tmp:
        for instances in sorted({1, args.instances}):
            proc, url = start_shop(Path(tmp), instances, args.products)
            try:
                wait_http(url + "/products")
                rps[f"/products via nginx, {instances} worker(s), uncached"] = wrk(url + "/products", cookie=True, **load)
                rps[f"/products via nginx, {instances} worker(s), nginx cache"] = wrk(url + "/products", **load)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
    base = rps["aiohttp hello (baseline)"]
    report["ratio_to_baseline"] = {name: round(value / base, 3) for name, value in rps.items()}
    return report


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
