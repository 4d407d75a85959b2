"""`make soak`: does a worker's memory stay put under load? Issue 12's goal: "worker RSS under 150 MB after
10 minutes of mixed load, and flat over the last 5" (2 workers behind nginx, 10,000 products).

    .venv/bin/python bench/soak.py                 # 10 minutes of load (about 11 with the set-up)
    .venv/bin/python bench/soak.py --minutes 2     # a short look (flatness over the last minute)

Seeds and starts `run.py --instances 2` like bench/run.py, then wrk (8 connections: the machine is busy,
not saturated by queueing) replays ONE list that mixes the bench's requests — catalog page and product
pages with a session, product and search API with bearer tokens, add to cart, and checkouts (each paid,
invoiced and mailed) at a modest share — for ``--minutes``. Every ``--interval`` seconds it reads each
app worker's RSS and USS (psutil) and prints a progress line. At the end: each worker's RSS, the
least-squares slope over the last 5 minutes and the verdict (bench/memory.py says what "flat" means and
why). Writes bench/results/soak.json and bench/results/soak.svg (RSS over time per worker; git-ignored).
Separate from `make bench`, which must stay under 10 minutes.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping, Sequence

import psutil

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import loads  # noqa: E402
import memory  # noqa: E402
import stack  # noqa: E402
from cpu import classify  # noqa: E402
from report import Request, lua_script, parse_wrk  # noqa: E402

# Requests per 100 of the mix. A checkout costs about 10x a page in worker CPU (payment, invoice PDF, mails
# follow it), so 2 in 100 puts roughly a third of the workers' CPU on orders: every plugin's code runs
# all along, and payments keep up (the bench's checkout row shows they lag only near saturation). The
# anonymous catalog is left out: nginx's page cache answers it, no worker sees it.
MIX: tuple[tuple[str, int], ...] = (("catalog", 15), ("product page", 25), ("product API", 25),
                                    ("search API", 10), ("add to cart", 23), ("checkout", 2))
MIX_LENGTH = 2000  # entries of the wrk script: every list's variety shows up, the script stays small


def mix(lists: Mapping[str, Sequence[Request]], weights: Sequence[tuple[str, int]], length: int) -> list[Request]:
    """``length`` requests in which each kind appears in proportion to its weight, spread evenly (smooth
    weighted round robin: no run of one kind), each kind cycling through its own list."""
    total = sum(w for _, w in weights)
    credit = {k: 0 for k, _ in weights}
    taken = {k: 0 for k, _ in weights}
    out: list[Request] = []
    for _ in range(length):
        for k, w in weights:
            credit[k] += w
        kind = max(credit, key=lambda k: credit[k])
        credit[kind] -= total
        items = lists[kind]
        out.append(items[taken[kind] % len(items)])
        taken[kind] += 1
    return out


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def workers_of(shop: subprocess.Popen) -> list[psutil.Process]:
    return [p for p in psutil.Process(shop.pid).children() if classify(p) == "app"]


def read_memory(proc: psutil.Process) -> dict | None:
    """RSS and USS in MB (USS: the pages only this process has, from smaps_rollup: a few ms)."""
    try:
        info = proc.memory_full_info()
    except psutil.Error:
        return None
    return {"rss_mb": round(info.rss / 2**20, 2), "uss_mb": round(info.uss / 2**20, 2)}


def group_rss(shop: subprocess.Popen) -> dict[str, float]:
    """RSS of every process group of the shop (MB), for context: nginx, postgres, broker, aux."""
    out: dict[str, float] = {}
    try:
        procs = [psutil.Process(shop.pid), *psutil.Process(shop.pid).children(recursive=True)]
    except psutil.Error:
        return out
    for p in procs:
        group = classify(p)
        try:
            rss = p.memory_info().rss / 2**20
        except psutil.Error:
            continue
        if group:
            out[group] = round(out.get(group, 0.0) + rss, 1)
    return out


def soak(args: argparse.Namespace, tmp: Path) -> dict:
    config = stack.write_shop_config(tmp, args.instances)
    log(f"seeding {args.products:,} products ...")
    stack.seed_shop(config, args.products)
    shop, url = stack.start_shop(config, args.instances)
    try:
        log(f"  ecom at {url}; accounts and products for the load ...")
        fx = asyncio.run(loads.prepare(url, stack.postgres_url(config, "ecom_products"), buyers=32, stocked=50))
        orders_db = stack.postgres_url(config, "ecom_orders")
        requests = mix(loads.ecom_requests(fx), MIX, MIX_LENGTH)
        script = tmp / "soak.lua"
        script.write_text(lua_script(requests))
        procs = {p.pid: p for p in workers_of(shop)}
        log(f"  workers {', '.join(map(str, procs))}; {args.minutes:g} min of mixed load, wrk -c{args.connections}")
        since = asyncio.run(loads.db_now(orders_db))
        duration = round(args.minutes * 60)
        samples: list[dict] = []
        wrk = subprocess.Popen(["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{duration}s",
                                "--timeout", "10s", "-s", str(script), url],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        began = time.monotonic()
        cpu0 = {pid: sum(p.cpu_times()[:2]) for pid, p in procs.items()}
        try:
            k = 0
            while k * args.interval <= duration:
                delay = began + k * args.interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                t = time.monotonic() - began
                for p in workers_of(shop):  # a restarted worker is a new series (and worth a look)
                    procs.setdefault(p.pid, p)
                row = {"t_s": round(t, 1), "workers": {}}
                for pid, p in procs.items():
                    m = read_memory(p)
                    if m:
                        row["workers"][str(pid)] = m
                samples.append(row)
                text = ", ".join(f"{pid} RSS {m['rss_mb']:.1f} (USS {m['uss_mb']:.1f})"
                                 for pid, m in row["workers"].items())
                log(f"  [{t / 60:4.1f}/{args.minutes:g} min] MB: {text}")
                k += 1
            out, err = wrk.communicate(timeout=120)
        finally:
            if wrk.poll() is None:
                wrk.kill()
                wrk.wait()
        if wrk.returncode != 0:
            raise RuntimeError(f"wrk failed (exit status {wrk.returncode}): {err[-1000:]}{out[-1000:]}")
        load = parse_wrk(out)
        cpu_s = 0.0
        for pid, p in procs.items():
            try:
                cpu_s += sum(p.cpu_times()[:2]) - cpu0.get(pid, 0.0)
            except psutil.Error:
                pass
        load["app_cpu_cores"] = round(cpu_s / max(1.0, load["seconds"]), 2)
        others = group_rss(shop)
        log("  load done; waiting for the last orders to be paid ...")
        orders = asyncio.run(loads.drain(orders_db, since, timeout=60))
    finally:
        stack.stop(shop)
    return {"samples": samples, "load": load, "orders": orders, "group_rss_mb_at_end": others,
            "workers": [str(pid) for pid in procs]}


def series_of(samples: Sequence[dict], workers: Sequence[str], field: str = "rss_mb"
              ) -> dict[str, tuple[list[float], list[float]]]:
    """worker -> (times, values) from the samples (a worker that died or was born midway has fewer)."""
    out: dict[str, tuple[list[float], list[float]]] = {}
    for w in workers:
        pts = [(s["t_s"], s["workers"][w][field]) for s in samples if w in s["workers"]]
        out[w] = ([t for t, _ in pts], [v for _, v in pts])
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10, help="minutes of load (default 10)")
    parser.add_argument("--interval", type=float, default=10, help="seconds between memory samples (default 10)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (default 8)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--instances", type=int, default=2, help="worker processes behind nginx")
    parser.add_argument("--products", type=int, default=10000, help="products seeded (default 10,000)")
    parser.add_argument("--limit-mb", type=float, default=memory.RSS_LIMIT_MB, help="the RSS goal (default 150)")
    parser.add_argument("--json", default=str(BENCH / "results" / "soak.json"))
    parser.add_argument("--svg", default=str(BENCH / "results" / "soak.svg"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not shutil.which("wrk"):
        print("bench/soak.py needs wrk: apt-get install -y wrk (make soak does it as root)", file=sys.stderr)
        return 1
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ecom-soak-") as tmp:
        os.chmod(tmp, 0o755)  # PostgreSQL's own account and nginx's workers (nobody) look inside
        run = soak(args, Path(tmp))
    rss = series_of(run["samples"], run["workers"])
    result = memory.verdict(rss, args.minutes, args.limit_mb)
    uss = series_of(run["samples"], run["workers"], "uss_mb")
    for w, (ts, vs) in uss.items():
        if vs:
            result["workers"][w]["uss_end_mb"] = vs[-1]
            result["workers"][w]["uss_slope_mb_per_min"] = memory.worker_verdict(ts, vs, args.minutes)[
                "slope_mb_per_min"]
    load = run["load"]
    for w in result["workers"].values():  # a leak's size per request: what the window's growth means at this rate
        served = load["requests"] * w.get("window_s", 0) / max(1.0, load["seconds"]) / args.instances
        w["growth_bytes_per_request"] = round(w["growth_mb"] * 2**20 / served) if served and "growth_mb" in w else None
    times = [s["t_s"] for s in run["samples"]]
    full = {w: vs for w, (ts, vs) in rss.items() if len(vs) == len(times)}  # the chart needs every sample
    Path(args.svg).parent.mkdir(parents=True, exist_ok=True)
    Path(args.svg).write_text(memory.chart_svg(
        f"Worker RSS under mixed load ({args.instances} workers, {args.products:,} products)", times,
        {f"worker {w}": vs for w, vs in full.items()}, args.limit_mb))
    orders = run["orders"]
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "settings": {"minutes": args.minutes, "interval_s": args.interval, "connections": args.connections,
                     "wrk_threads": args.threads, "instances": args.instances, "products": args.products,
                     "mix_per_100": dict(MIX), "flat_tolerance": f"max({memory.FLAT_MB} MB, "
                     f"{memory.FLAT_SHARE:.0%} of RSS) over the last {memory.WINDOW_MINUTES:g} min"},
        "wall_seconds": round(time.monotonic() - started, 1),
        "verdict": result, "load": load, "orders": orders, "group_rss_mb_at_end": run["group_rss_mb_at_end"],
        "samples": run["samples"],
    }
    Path(args.json).write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"load: {load['requests']:,} requests in {load['seconds']:.0f} s ({load['rps']:,.0f}/s, p99 "
          f"{load['p99_ms']} ms, {load['errors']} errors, {load['non_2xx']} non-2xx), workers at "
          f"{load['app_cpu_cores']} cores; orders paid {orders['paid']}, waiting {orders['pending']}, "
          f"other {orders['other']}")
    print(f"other processes' RSS at the end (MB): {run['group_rss_mb_at_end']}")
    print("\n".join(memory.summary_lines(result)))
    print(f"JSON in {args.json}, chart in {args.svg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
