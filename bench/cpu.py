"""CPU seconds per process group while a load runs, and what the rest of the machine used meanwhile.

The groups are found from the processes `make bench` started (its roots) and their descendants, named
by what they run: nginx, app (ecom's `run.py worker` processes or the bare baseline servers), postgres,
broker, ecom aux (the supervisor and the mail sink), load generator (this process and wrk). A sampler
thread reads every process's CPU times a few times a second, so that processes born during the run
(PostgreSQL backends, nginx workers) count from zero and those that die lose at most one interval.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Callable

import psutil


def classify(proc: psutil.Process) -> str | None:
    try:
        name = proc.name()
        cmdline = " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    if name == "nginx" or "nginx: " in cmdline:
        return "nginx"
    if name in ("postgres", "postmaster") or cmdline.startswith("postgres"):
        return "postgres"
    if "ecom.broker" in cmdline:
        return "broker"
    if "baseline_app.py" in cmdline or ("run.py" in cmdline and " worker" in cmdline):
        return "app"
    return "ecom aux"


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def system_busy() -> float:
    """CPU seconds the machine spent running any process (user, nice, system; not irq, softirq, steal, idle)."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system


def self_and_children() -> float:
    """This process plus its waited-for children (wrk): the load generator."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Sampler:
    """``with Sampler(roots) as s: ...`` then ``s.result()`` -> {"seconds", "cpu_s": {group: s}, "system_s"}.

    ``roots`` returns the pids whose trees are ours (called at every sample: a restarted worker counts)."""

    def __init__(self, roots: Callable[[], list[int]], interval: float = 1.0):
        self.roots, self.interval = roots, interval
        self._base: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._group: dict[int, str] = {}
        self._procs: dict[int, psutil.Process] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self, first: bool) -> None:
        seen: list[psutil.Process] = []
        for pid in self.roots():
            try:
                root = self._procs.get(pid) or psutil.Process(pid)
                seen.append(root)
                seen.extend(root.children(recursive=True))
            except psutil.Error:
                continue
        for proc in seen:
            key = proc.pid
            cached = self._procs.get(key)
            if cached is None or cached.create_time() != proc.create_time():
                self._procs[key] = proc
                group = classify(proc)
                if group is None:
                    continue
                self._group[key] = group
                try:
                    now = _cpu(proc)
                except psutil.Error:
                    continue
                # there at the start: count from now; born since: count from zero
                self._base[key] = now if first or proc.create_time() < self._started_at else 0.0
                self._last[key] = now
                continue
            try:
                self._last[key] = _cpu(cached)
            except psutil.Error:
                pass  # it died since the last sample: keep what it had used then

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample(first=False)

    def __enter__(self) -> "Sampler":
        self._started_at = time.time()
        self._sample(first=True)
        self._t0 = time.monotonic()
        self._sys0 = system_busy()
        self._own0 = self_and_children()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self._sample(first=False)
        self._seconds = time.monotonic() - self._t0
        self._sys = system_busy() - self._sys0
        self._own = self_and_children() - self._own0

    def result(self) -> dict:
        cpu: dict[str, float] = {}
        for pid, group in self._group.items():
            cpu[group] = cpu.get(group, 0.0) + max(0.0, self._last[pid] - self._base[pid])
        cpu["load generator"] = cpu.get("load generator", 0.0) + self._own
        return {"seconds": round(self._seconds, 3), "system_s": round(self._sys, 2),
                "cpu_s": {k: round(v, 2) for k, v in cpu.items()}}
