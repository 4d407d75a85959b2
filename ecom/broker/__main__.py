"""``python -m ecom.broker --host H --port P``: the hardened broker in a process of its own.

Run by :class:`ecom.broker.process.BrokerProcess`. The shop secret arrives as one hex line on standard
input (never in argv, which every local user can read in /proc). Once listening it prints ``ready`` on
standard output, the parent's readiness signal. SIGTERM stops it; SIGINT is ignored (a Ctrl-C reaches
the whole process group, and the parent wants its broker until its own requests have drained).
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from . import EmbeddedBroker
from ..fdlimit import raise_fd_limit
from .limits import Limits


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ecom.broker", description=__doc__.split("\n")[0])
    d = Limits()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--max-connections", type=int, default=d.max_connections)
    p.add_argument("--connect-timeout", type=float, default=d.connect_timeout)
    p.add_argument("--max-payload-bytes", type=int, default=d.max_payload_bytes)
    p.add_argument("--session-expiry-seconds", type=int, default=d.session_expiry_seconds)
    p.add_argument("--log-level", default="info")
    return p


async def _serve(host: str, port: int, secret: bytes, limits: Limits) -> int:
    broker = EmbeddedBroker(host, port, secret, limits)
    try:
        await broker.start()
    except Exception as err:  # noqa: BLE001 - amqtt wraps the OSError of bind in BrokerError
        cause = err.__cause__ or err
        print(f"ecom: cannot start the MQTT broker on {host}:{port}: {getattr(cause, 'strerror', None) or cause}",
              file=sys.stderr, flush=True)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    sys.stdout.close()  # nothing else goes to the readiness pipe
    await stop.wait()
    await broker.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        secret = bytes.fromhex(sys.stdin.readline().strip())
    except ValueError:
        secret = b""
    sys.stdin.close()
    if not secret:
        print("ecom: the MQTT broker needs the shop secret (hex) on standard input", file=sys.stderr)
        return 2
    from ..logs import setup_logging
    setup_logging(args.log_level, json_format=not sys.stderr.isatty())
    logging.getLogger("amqtt").setLevel(logging.ERROR)  # it logs every connection; we log refusals, throttled
    raise_fd_limit()
    limits = Limits(max_connections=args.max_connections, connect_timeout=args.connect_timeout,
                    max_payload_bytes=args.max_payload_bytes, session_expiry_seconds=args.session_expiry_seconds)
    return asyncio.run(_serve(args.host, args.port, secret, limits))


if __name__ == "__main__":
    sys.exit(main())
