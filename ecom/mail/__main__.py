"""``python -m ecom.mail --host H --port P --folder DIR``: the embedded SMTP sink as a process of its own.

Says ``ready`` on stdout once it listens; a busy port is one line on stderr and exit status 3 (the
parent then runs on without a sink: see ecom.mail.process)."""
from __future__ import annotations

import argparse
import asyncio
import errno
import signal
import sys
from pathlib import Path

from .sink import SmtpSink

EXIT_PORT_BUSY = 3


async def _main(args: argparse.Namespace) -> int:
    sink = SmtpSink(args.host, args.port, Path(args.folder))
    try:
        await sink.start()
    except OSError as err:
        why = "the port is in use" if err.errno == errno.EADDRINUSE else (err.strerror or str(err))
        print(f"ecom: the embedded mail sink cannot listen on {args.host}:{args.port} ({why}); "
              "set [mail] embedded_port to a free port", file=sys.stderr, flush=True)
        return EXIT_PORT_BUSY
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    await sink.stop()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m ecom.mail", description="ecom's embedded SMTP sink")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--folder", required=True, help="the Maildir to write")
    return asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
