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
import subprocess
import sys
import tempfile
from pathlib import Path

from stack import free_port, seed_shop, start_shop, stop, wait_http, write_shop_config

HELLO = """
from aiohttp import web
async def hello(request): return web.Response(text="hello")
app = web.Application(); app.router.add_get("/", hello)
web.run_app(app, host="127.0.0.1", port={port}, access_log=None, print=None)
"""


def wrk(url: str, seconds: int, connections: int, threads: int, cookie: bool = False) -> float:
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", url]
    if cookie:
        args[1:1] = ["-H", "Cookie: ecom_session=bench-no-cache"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"{url}: {non2xx.group(1)} failed responses\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


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
        stop(hello, timeout=10)

    with tempfile.TemporaryDirectory(prefix="ecom-balancer-") as tmp:
        for n, instances in enumerate(sorted({1, args.instances})):
            config = write_shop_config(Path(tmp), instances)
            if n == 0:
                seed_shop(config, args.products)
            proc, url = start_shop(config, instances)
            try:
                wait_http(url + "/products")
                rps[f"/products via nginx, {instances} worker(s), uncached"] = wrk(url + "/products", cookie=True, **load)
                rps[f"/products via nginx, {instances} worker(s), nginx cache"] = wrk(url + "/products", **load)
            finally:
                stop(proc)
    base = rps["aiohttp hello (baseline)"]
    report["ratio_to_baseline"] = {name: round(value / base, 3) for name, value in rps.items()}
    return report


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
