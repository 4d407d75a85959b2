"""Pretend machines on this one: network namespaces ("hosts") on a bridge, each with its own address.

Why namespaces and not 127.0.0.x: a worker in its own namespace reaches PostgreSQL and the broker only
over a network link, so cutting that link (``ip link set ... down``) cuts the host off for real: its
open TCP connections stall exactly as a pulled cable would, which no loopback trick reproduces.

Everything is named ``ecomc<tag>...`` with the run's tag (two CI runs on one machine must not meet) and
every step is undone by :meth:`Network.remove`, which tolerates half-built states (it runs when a test
fails). A run killed outright never gets there: the common prefix lets the next run find what it left
(tests/cluster/leftovers.py). Addresses come from 10.213.<n>.0/24, only ever on this run's own bridge
inside this machine.
"""
from __future__ import annotations

import random
import re
import subprocess
import uuid

PREFIX = "ecomc"   # every namespace and link of a run: ecomc<tag>br, ecomc<tag>o11, ecomc<tag>-app1 ...
NAME = re.compile(PREFIX + r"([0-9a-f]{5})")   # .match(name) -> the run's tag


def new_tag() -> str:
    return uuid.uuid4().hex[:5]


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=20)


def _subnet_in_use(prefix: str) -> bool:
    return prefix in ip("-brief", "addr").stdout


class Network:
    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.bridge = f"{PREFIX}{tag}br"   # interface names: 15 characters at most
        for _ in range(50):
            self.prefix = f"10.213.{random.randrange(1, 250)}."
            if not _subnet_in_use(self.prefix):
                break
        self.gateway = self.prefix + "1"   # the root namespace: PostgreSQL, broker, nginx
        self.hosts: dict[str, dict[str, str]] = {}

    def create(self) -> None:
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")

    def add_host(self, name: str) -> str:
        """A namespace ``ecomc<tag>-<name>`` joined to the bridge by a veth pair; returns its address."""
        number = 11 + len(self.hosts)
        ns, outside, inside = (f"{PREFIX}{self.tag}-{name}", f"{PREFIX}{self.tag}o{number}",
                               f"{PREFIX}{self.tag}i{number}")
        self.hosts[name] = {"ns": ns, "link": outside, "address": f"{self.prefix}{number}"}
        ip("netns", "add", ns)
        ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        ip("link", "set", inside, "netns", ns)
        ip("link", "set", outside, "master", self.bridge, "up")
        ip("-n", ns, "addr", "add", f"{self.prefix}{number}/24", "dev", inside)
        ip("-n", ns, "link", "set", inside, "up")
        ip("-n", ns, "link", "set", "lo", "up")
        return self.hosts[name]["address"]

    def run_in(self, name: str) -> list[str]:
        """The command prefix that runs a program on host ``name``."""
        return ["ip", "netns", "exec", self.hosts[name]["ns"]]

    def cut(self, name: str) -> None:
        """Pull the host's cable: its link on the bridge goes down (packets vanish, nothing is refused)."""
        ip("link", "set", self.hosts[name]["link"], "down")

    def mend(self, name: str) -> None:
        ip("link", "set", self.hosts[name]["link"], "up")

    def remove(self) -> None:
        for host in self.hosts.values():
            ip("link", "del", host["link"], check=False)   # deletes its peer too
            ip("netns", "del", host["ns"], check=False)
        ip("link", "del", self.bridge, check=False)
