"""Free loopback ports for the servers a test starts (broker, mail sink, a shop run as a process)."""
from __future__ import annotations

import random
import socket


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive loopback ports free right now, below the kernel's ephemeral
    range (32768+), so that no outgoing connection of the test run can take one before a server binds it."""
    for _ in range(200):
        base = random.randrange(20000, 32000 - count)
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError(f"no {count} consecutive free ports")


def free_port() -> int:
    return free_ports(1)
