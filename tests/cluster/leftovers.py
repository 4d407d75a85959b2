"""What a cluster run killed outright (SIGKILL, a cancelled CI job) left behind, found and removed by the next.

A killed run never reaches ``Shop.close()``: its network namespaces and veth/bridge links stay, and so do
its PostgreSQL servers, Mosquitto, workers and nginx (started in sessions of their own, they outlive
pytest), holding ports, memory and 10.213.x subnets until the machine reboots.

Why a lock and not "everything with our prefix": two runs may share a machine (two CI clones), and a run
must never tear down one that is alive. Each run holds an exclusive ``flock`` on ``<run dir>/run.lock``
for its whole life and writes its pid into it; the kernel drops the lock when the process dies, however
it dies. So a run dir whose lock can be taken and names a pid is dead. A lock file still empty belongs to
a run starting this very moment (it locks, then writes): left alone, as is a dir without one (being made,
or kept on purpose with ECOM_CLUSTER_KEEP=1). Namespaces, links and processes are tied to their run by
the tag in their names (hosts.PREFIX) and in their paths (the run dir): those whose run is dead, or whose
run dir is gone, are removed.
"""
from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import psutil

from tests.cluster.hosts import NAME, ip, new_tag
from tests.cluster.parts import PG_BIN

RUN_DIR_PREFIX = "ecom-cluster-"          # /tmp/ecom-cluster-<tag>-XXXXXX
RUN_DIR = re.compile(re.escape(RUN_DIR_PREFIX) + r"([0-9a-f]{5})-")
LOCK = "run.lock"


def new_run_dir() -> tuple[str, Path, int]:
    """A fresh tag, its run dir and the open, locked lock file (keep the descriptor open while running)."""
    tag = new_tag()
    root = Path(tempfile.mkdtemp(prefix=f"{RUN_DIR_PREFIX}{tag}-"))
    fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)   # blocks only while another run's sweep is judging this dir
    os.write(fd, str(os.getpid()).encode())
    return tag, root, fd


def _dead(root: Path) -> bool:
    try:
        fd = os.open(root / LOCK, os.O_RDONLY)
    except OSError:
        return False                       # no lock file: being made, or kept on purpose
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False                       # its run holds it: alive
    try:
        return bool(os.read(fd, 32).strip())   # empty: a run between locking and writing its pid
    finally:
        os.close(fd)                       # closing releases our probe lock


def _dead_runs() -> dict[str, Path]:
    """Run dirs of this machine whose run is dead, by tag."""
    dead = {}
    for root in Path(tempfile.gettempdir()).glob(RUN_DIR_PREFIX + "*"):
        match = RUN_DIR.match(root.name)
        if match and root.is_dir() and _dead(root):
            dead[match.group(1)] = root
    return dead


def _abandoned(tag: str, dead: dict[str, Path]) -> bool:
    """Judged per object, just before removing it: a run starting meanwhile made its dir before anything
    else, so a tag without a dir (or with a dead one) is no living run's."""
    return tag in dead or not any(Path(tempfile.gettempdir()).glob(f"{RUN_DIR_PREFIX}{tag}-*"))


def _stop_postgres(root: Path) -> int:
    """pg_ctl stop -m immediate for every cluster of a dead run whose server still runs."""
    stopped = 0
    for pid_file in root.glob("*/data/postmaster.pid"):
        result = subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D",
                                 str(pid_file.parent), "-m", "immediate", "-w", "-t", "30", "stop"],
                                capture_output=True, timeout=60)
        stopped += result.returncode == 0
    return stopped


def _kill_processes(dead: dict[str, Path]) -> list[str]:
    """Kill the processes whose command line or open files lie in an abandoned run's dir (a worker,
    Mosquitto, an nginx worker that lost its master; never this process or its ancestors). Nothing of a
    dead run is worth a graceful stop."""
    mine = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    killed, names = [], []
    for proc in psutil.process_iter(["cmdline"]):
        if proc.pid in mine:
            continue
        try:
            paths = [*(proc.info["cmdline"] or ()), *(f.path for f in proc.open_files())]
            tags = {m.group(1) for text in paths for m in RUN_DIR.finditer(text)}
            if tags and all(_abandoned(tag, dead) for tag in tags):
                names.append(proc.name())
                proc.kill()
                killed.append(proc)
        except psutil.Error:
            continue
    psutil.wait_procs(killed, timeout=15)
    return names


def _remove_network(dead: dict[str, Path]) -> tuple[list[str], list[str]]:
    """Delete the namespaces, then the links, of abandoned runs (named hosts.PREFIX + tag)."""
    def abandoned(name: str) -> bool:
        return bool(match := NAME.match(name)) and _abandoned(match.group(1), dead)
    links = [name for line in ip("-o", "link", "show").stdout.splitlines()
             if abandoned(name := line.split(":")[1].strip().split("@")[0])]
    namespaces = [name for line in ip("netns", "list").stdout.splitlines()
                  if line.strip() and abandoned(name := line.split()[0])]
    for name in namespaces:
        ip("netns", "del", name, check=False)   # its inside veth goes with it, and so the outside peer
    for name in links:
        ip("link", "del", name, check=False)    # (already gone with its namespace, or a bridge)
    return namespaces, links


def clean() -> str:
    """Remove what dead runs left; returns one line saying what ("" when there was nothing)."""
    dead = _dead_runs()
    servers = sum(_stop_postgres(root) for root in dead.values())
    processes = _kill_processes(dead)
    namespaces, links = _remove_network(dead)
    for root in dead.values():
        shutil.rmtree(root, ignore_errors=True)
    if not (dead or servers or processes or namespaces or links):
        return ""
    return (f"tests/cluster: removed what killed runs left: run dirs {sorted(map(str, dead.values()))}, "
            f"{servers} PostgreSQL servers stopped, {len(processes)} processes killed "
            f"{sorted(set(processes))}, namespaces {namespaces}, links {links}")
