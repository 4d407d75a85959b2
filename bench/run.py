"""`make bench`: ecom's busiest paths against bare aiohttp/asyncpg baselines, in one run, behind the same
nginx, printed as one table of ratios (docs/performance.md says how to read it).

    .venv/bin/python bench/run.py            # 3 runs x 10 s per path (about 7 minutes)
    .venv/bin/python bench/run.py --quick    # 3 runs x 3 s per path (about 3 minutes)
    .venv/bin/python bench/run.py --only catalog,jinja-page --runs 1

Starts `run.py --instances 2` on a throwaway data dir seeded with 10,000 products and, beside it, two
bench/baseline_app.py processes behind an nginx rendered from ecom's own template. wrk (32 connections)
replays request lists; checkout-to-paid and the rush are Python asyncio loads. Each run samples the
CPU of every process group; a run during which processes outside the groups used more than 0.2 of a
core is discarded and made once more. Writes bench/results/latest.json (git-ignored: the table of
record lives in docs/performance.md).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import psutil

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import loads  # noqa: E402
import stack  # noqa: E402
from cpu import Sampler, classify  # noqa: E402
from report import Row, disturbed, evaluate, lua_script, markdown, other_cores, parse_wrk, summarize  # noqa: E402

BASELINE, ECOM = "baseline", "ecom"
RUSH_BUYERS, RUSH_UNITS = 200, 50
QUIET_CORES = 0.3     # the shop idles at about 0.15 (sweeps, polls): above this it still works off earlier load
QUIET_TIMEOUT = 60.0  # seconds to wait for it at most

# (key, target, kind) in the order of one round: each ecom path next to its baseline
PATHS = [
    ("hello", BASELINE, "wrk"),
    ("jinja page", BASELINE, "wrk"),
    ("catalog", ECOM, "wrk"),
    ("product page", ECOM, "wrk"),
    ("anonymous catalog", ECOM, "wrk"),
    ("pk read", BASELINE, "wrk"),
    ("product API", ECOM, "wrk"),
    ("search API", ECOM, "wrk"),
    ("checkout SQL", BASELINE, "wrk"),
    ("add to cart", ECOM, "wrk"),
    ("checkout", ECOM, "checkout"),
]
LATER = ["checkout to paid", "rush"]  # after the rounds: the first needs the checkout rate

ROWS = [
    Row("bare: aiohttp hello", "hello"),
    Row("bare: Jinja page of 20 products (asyncpg)", "jinja page"),
    Row("bare: asyncpg primary-key read as JSON", "pk read"),
    Row("bare: checkout SQL over HTTP (stock UPDATE + 2 INSERTs, 1 tx)", "checkout SQL"),
    Row("catalog page `/products` with a session cookie", "catalog", "jinja page", "≥ 0.6", goal_ratio=0.6),
    Row("product page `/products/{id}` with a session cookie", "product page", "jinja page", "≥ 0.6", goal_ratio=0.6),
    Row("product API `/api/v1/products/{id}`, bearer token", "product API", "pk read", "≥ 0.7", goal_ratio=0.7),
    Row("search API `/api/v1/products?q=`, bearer token", "search API", "pk read"),
    Row("add to cart `POST /api/v1/cart/items`, bearer token", "add to cart", "checkout SQL"),
    Row("checkout `POST /api/v1/orders`, delay 0, each order paid", "checkout", "checkout SQL", "≥ 0.35",
        goal_ratio=0.35, unit="orders/s"),
    Row("checkout → paid (SSE), at half that rate", "checkout to paid", None, "p99 < 250 ms", goal_p99_ms=250,
        unit="orders/s"),
    Row(f"rush: {RUSH_BUYERS} buyers, one product, {RUSH_UNITS} units", "rush", None,
        f"exactly {RUSH_UNITS} sold, p99 < 1 s", goal_p99_ms=1000),
    Row("anonymous catalog `/products` (nginx page cache)", "anonymous catalog", "jinja page"),
]


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path):
        self.args, self.tmp = args, tmp
        self.runs: dict[str, list[dict]] = {}
        self.began = time.monotonic()  # --budget counts from here
        self.measured = 0       # runs made so far (re-runs included)
        self.reruns = 0
        self.planned = 0        # runs the whole bench makes without re-runs
        self.first_run_at = 0.0
        self.shop: subprocess.Popen | None = None
        self.baseline: stack.Baseline | None = None

    # ------------------------------------------------------------------ set-up
    def start(self) -> None:
        a = self.args
        self.config = stack.write_shop_config(self.tmp, a.instances)
        log(f"seeding {a.products:,} products ...")
        self.seed_seconds = stack.seed_shop(self.config, a.products)
        log(f"  seeded in {self.seed_seconds:.1f} s; starting run.py --instances {a.instances}")
        self.shop, self.url = stack.start_shop(self.config, a.instances)
        self.orders_db = stack.postgres_url(self.config, "ecom_orders")
        workers = [p.pid for p in psutil.Process(self.shop.pid).children() if classify(p) == "app"]
        log(f"  ecom at {self.url}, workers (pids for py-spy) {', '.join(map(str, workers))}; accounts and "
            "products for the bench ...")
        self.fx = asyncio.run(loads.prepare(self.url, stack.postgres_url(self.config, "ecom_products"),
                                            buyers=RUSH_BUYERS, stocked=50))
        dsn = asyncio.run(self._baseline_db())
        self.baseline = stack.Baseline(self.tmp, self.config, dsn, a.instances)
        self.base_url = self.baseline.start()
        log(f"  baseline at {self.base_url}")
        self.requests = {**loads.baseline_requests(self.fx), **loads.ecom_requests(self.fx)}

    async def _baseline_db(self) -> str:
        import asyncpg
        dsn = await stack.make_baseline_db(self.config)
        conn = await asyncpg.connect(dsn)
        try:
            await conn.executemany("INSERT INTO stock VALUES ($1, 1000000)", [(i,) for i in self.fx.stocked_ids])
        finally:
            await conn.close()
        return dsn

    def stop(self) -> None:
        if self.baseline:
            self.baseline.stop()
        stack.stop(self.shop)

    def roots(self) -> list[int]:
        shop = [self.shop.pid] if self.shop else []
        return shop + (self.baseline.pids() if self.baseline else [])

    # ------------------------------------------------------------------ one run
    def wrk(self, key: str, target: str, seconds: float) -> dict:
        script = self.tmp / f"{key.replace(' ', '-')}.lua"
        if not script.exists():
            script.write_text(lua_script(self.requests[key]))
        url = self.base_url if target == BASELINE else self.url
        a = self.args
        args = ["wrk", f"-t{a.threads}", f"-c{a.connections}", f"-d{max(1, round(seconds))}s",  # whole seconds only
                "--timeout", "10s", "-s", str(script), url]
        out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60)
        if out.returncode != 0:
            raise RuntimeError(f"wrk failed on {key} (exit status {out.returncode}): {out.stderr[-1000:]}"
                               f"{out.stdout[-1000:]}")
        return parse_wrk(out.stdout)

    def quiesce(self) -> float:
        """Wait until the shop has worked off earlier load (mails and invoices of paid orders run on for a
        while after the last payment); returns the seconds waited."""
        began = time.monotonic()
        while time.monotonic() - began < QUIET_TIMEOUT:
            with Sampler(self.roots, interval=1.0) as sampler:
                time.sleep(0.5)
            cpu = sampler.result()
            busy = sum(v for k, v in cpu["cpu_s"].items() if k != "load generator") / cpu["seconds"]
            if busy < QUIET_CORES:
                break
        return time.monotonic() - began

    def checkout(self, seconds: float) -> dict:
        """wrk posts checkouts for ``seconds``; the run lasts until every order is paid. Then, still inside
        the CPU window, until the shop is quiet again: the mails and invoices of those orders are their cost too."""
        since = asyncio.run(loads.db_now(self.orders_db))
        result = self.wrk("checkout", ECOM, seconds)
        settled = asyncio.run(loads.drain(self.orders_db, since, timeout=60))
        took = settled["seconds_to_last_paid"] or result["seconds"]
        after = self.quiesce()
        result["x_post_rps"] = result["rps"]
        result["rps"] = round(settled["paid"] / took, 1) if took else 0.0
        result["x_unpaid"] = settled["pending"] + settled["other"]
        result["errors"] += result["x_unpaid"] + (settled["paid"] - settled["paid_once"])
        result["x_notes"] = [f"POST {result['x_post_rps']:,.0f} req/s, the last order paid "
                             f"{took - result['seconds']:.1f} s after the load stopped, the shop busy "
                             f"{after:.0f} s more (mails, invoices: in the CPU columns)"]
        return result

    def measure(self, key: str, action: Callable[[], dict]) -> dict:
        with Sampler(self.roots) as sampler, self.profiling(key):
            result = action()
        cpu = sampler.result()
        result.update(cpu_s=cpu["cpu_s"], system_s=cpu["system_s"], cpu_window_s=cpu["seconds"])
        result["other_cores"] = round(other_cores(cpu["system_s"], cpu["cpu_s"], cpu["seconds"]), 2)
        return result

    @contextlib.contextmanager
    def profiling(self, key: str):
        """With --profile: py-spy samples every ecom worker while the run lasts. The first worker's samples
        become a flame graph (``<path>.svg``), the others' collapsed stacks (``<path>.<pid>.txt``: grep them,
        or open them in speedscope.app). The workers share the load evenly, so one stands for all."""
        target = next((t for k, t, _ in PATHS if k == key), ECOM)
        if not self.args.profile or target != ECOM or not self.shop:
            yield
            return
        out = Path(self.args.profile)
        out.mkdir(parents=True, exist_ok=True)
        name = key.replace(" ", "-")
        workers = [p.pid for p in psutil.Process(self.shop.pid).children() if classify(p) == "app"]
        spies = []
        for i, pid in enumerate(workers):
            fmt, file = ("flamegraph", out / f"{name}.svg") if i == 0 else ("raw", out / f"{name}.{pid}.txt")
            spies.append(subprocess.Popen([py_spy(), "record", "--pid", str(pid), "--rate", "250", "--nonblocking",
                                           "--nolineno",  # one box per function: smaller, readable graphs
                                           "--format", fmt, "--output", str(file)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        try:
            yield
        finally:
            for spy in spies:  # py-spy writes its output when interrupted
                spy.send_signal(signal.SIGINT)
            for spy in spies:
                stack.stop(spy, signal.SIGINT, timeout=30)
            log(f"  profile of {key}: {out / (name + '.svg')}")

    def action(self, key: str, target: str, kind: str, seconds: float) -> Callable[[], dict]:
        if kind == "checkout":
            return lambda: self.checkout(seconds)
        if key == "checkout to paid":
            rate = max(1.0, (summarize(self.runs.get("checkout", [])).get("rps") or 2.0) / 2)
            return lambda: asyncio.run(loads.checkout_to_paid(self.url, self.fx, rate, seconds))
        if key == "rush":
            return lambda: asyncio.run(loads.rush(self.url, self.orders_db, self.fx, RUSH_UNITS))
        return lambda: self.wrk(key, target, seconds)

    def run_path(self, key: str, target: str, kind: str, n: int, total: int) -> None:
        a = self.args
        act = self.action(key, target, kind, a.seconds)
        for attempt in (1, 2):  # a disturbed run is made once more
            self.quiesce()
            result = self.measure(key, act)
            self.runs.setdefault(key, []).append(result)
            note = (f"  {key} [{n}/{total}]: {result['rps']:,.1f}/s p50 {result['p50_ms']} ms "
                    f"p99 {result['p99_ms']} ms, other processes {result['other_cores']:.2f} cores")
            if result.get("errors"):
                note += f", {result['errors']} errors"
            self.measured += 1
            if not disturbed(result) or attempt == 2:
                log(note + (" (disturbed again: kept, flagged)" if disturbed(result) else ""))
                break
            if not self.time_for_one_more():
                log(note + " (disturbed; kept and flagged: no time left in --budget for another run)")
                break
            log(note + " -> disturbed, discarded; once more")
            self.reruns += 1

    def time_for_one_more(self) -> bool:
        """Whether one more run still lets the runs left finish within --budget (at the pace so far)."""
        now = time.monotonic()
        per_run = (now - self.first_run_at) / max(1, self.measured)
        left = self.planned - (self.measured - self.reruns)  # runs still to make, not counting a re-run
        return now - self.began + per_run * (left + 1) < self.args.budget

    def warm_up(self, key: str, target: str, kind: str) -> None:
        if kind == "checkout":
            self.checkout(self.args.warmup)
        elif kind == "wrk":
            self.wrk(key, target, self.args.warmup)

    def run(self) -> dict:
        a = self.args
        chosen = [p for p in PATHS if not a.only or p[0] in a.only]
        later = [k for k in LATER if not a.only or k in a.only]
        self.planned = len(chosen) * a.runs + sum(1 if k == "checkout to paid" else a.runs for k in later)
        self.first_run_at = time.monotonic()
        for n in range(1, a.runs + 1):
            log(f"round {n} of {a.runs}")
            for key, target, kind in chosen:
                if n == 1 and a.warmup:
                    self.warm_up(key, target, kind)
                self.run_path(key, target, kind, n, a.runs)
        for key in later:
            runs = 1 if key == "checkout to paid" else a.runs
            for n in range(1, runs + 1):
                self.run_path(key, ECOM, "python", n, runs)
        results = {key: summarize(runs) for key, runs in self.runs.items()}
        return results


def py_spy() -> str | None:
    """py-spy on PATH or beside this Python (``.venv/bin/pip install py-spy``)."""
    beside = Path(sys.executable).parent / "py-spy"
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s runs, 1 s warm-up (about 3 minutes)")
    parser.add_argument("--seconds", type=float, default=10, help="length of one run (default 10)")
    parser.add_argument("--runs", type=int, default=3, help="runs per path (default 3)")
    parser.add_argument("--warmup", type=float, default=1, help="seconds of unmeasured load before a path's first run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--instances", type=int, default=2, help="processes behind nginx, ecom and baseline alike")
    parser.add_argument("--products", type=int, default=10000, help="products seeded (default 10,000)")
    parser.add_argument("--only", default="", help="comma-separated path keys (see PATHS), for a partial look")
    parser.add_argument("--budget", type=float, default=540,
                        help="seconds the whole bench should take at most: disturbed runs are made once more only "
                             "while the runs left still fit (default 540, so that `make bench` stays under 10 min)")
    parser.add_argument("--profile", default="", metavar="DIR",
                        help="record every ecom run with py-spy (pip install py-spy; needs root or CAP_SYS_PTRACE): "
                             "a flame graph per path in DIR, and collapsed stacks")
    parser.add_argument("--json", default=str(BENCH / "results" / "latest.json"), help="where the JSON goes")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds = 3
    args.only = [k.strip().replace("-", " ") for k in args.only.split(",") if k.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.profile and not py_spy():
        print("--profile needs py-spy on PATH: .venv/bin/pip install py-spy", file=sys.stderr)
        return 1
    if not shutil.which("wrk"):
        print("bench/run.py needs wrk: apt-get install -y wrk (make bench does it as root)", file=sys.stderr)
        return 1
    started = time.monotonic()
    if args.quick and args.budget == 540:
        args.budget = 300
    with tempfile.TemporaryDirectory(prefix="ecom-bench-") as tmp:
        os.chmod(tmp, 0o755)  # PostgreSQL's own account and nginx's workers (nobody) look inside
        bench = Bench(args, Path(tmp))
        try:
            bench.start()
            results = bench.run()
        finally:
            bench.stop()
    table = evaluate(ROWS, results)
    table = [row for row in table if row["value"] is not None or not args.only]
    text = markdown(table)
    wall = time.monotonic() - started
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "settings": {"seconds": args.seconds, "runs": args.runs, "warmup": args.warmup,
                     "connections": args.connections, "wrk_threads": args.threads, "instances": args.instances,
                     "products": args.products, "rush": {"buyers": RUSH_BUYERS, "units": RUSH_UNITS}},
        "wall_seconds": round(wall, 1), "seed_seconds": round(bench.seed_seconds, 1),
        "table": table, "markdown": text, "results": results, "runs": bench.runs,
    }
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(text)
    print(f"\n{datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} CPUs, {wall:.0f} s; "
          f"JSON in {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
