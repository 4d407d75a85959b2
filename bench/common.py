"""Shared bench plumbing: an in-process shop on a throwaway embedded PostgreSQL + broker, and timing."""
from __future__ import annotations

import contextlib
import hashlib
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402

from ecom.app import create_app  # noqa: E402
from ecom.config import Config, load_config  # noqa: E402
from ecom.broker import EmbeddedBroker  # noqa: E402
from ecom.embedded import EmbeddedPostgres  # noqa: E402
from ecom.mail.sink import SmtpSink  # noqa: E402

SECRET_KEY = "bench-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def shop(enabled: list[str], **sections) -> AsyncIterator[tuple[str, Config, web.Application]]:
    """Start PostgreSQL, the broker and the app on free loopback ports; yield (base URL, config, app).

    ``sections`` override config sections, e.g. ``plugins={"payments": {"delay_seconds": 0}}``."""
    with tempfile.TemporaryDirectory(prefix="ecom-bench-") as tmp:
        pg = EmbeddedPostgres(Path(tmp), max_connections=200)
        pg.start()
        broker = EmbeddedBroker("127.0.0.1", free_port(), hashlib.sha256(SECRET_KEY.encode()).digest())
        await broker.start()
        sink = SmtpSink("127.0.0.1", free_port(), Path(tmp) / "mail")  # the shop's mails are part of the cost
        await sink.start()
        port = free_port()
        overrides = {
            "server": {"port": port, "data_dir": str(Path(tmp) / "data"), "log_level": "warning"},
            "database": {"url": pg.url()},
            "broker": {"url": f"mqtt://127.0.0.1:{broker.port}", "client_id": f"bench-{uuid.uuid4().hex[:8]}"},
            "security": {"secret_key": SECRET_KEY, "rate_limit_per_minute": 0, "auth_rate_limit_per_minute": 0,
                         "argon2_time_cost": 1, "argon2_memory_kib": 8},
            "plugins": {"enabled": enabled},
            "mail": {"embedded_port": sink.port},
        }
        for name, values in sections.items():
            overrides.setdefault(name, {}).update(values)
        config = load_config(None, environ={}, overrides=overrides, root=ROOT)
        app = create_app(config)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        try:
            yield f"http://127.0.0.1:{port}", config, app
        finally:
            await runner.cleanup()
            await sink.stop()
            await broker.stop()
            pg.stop()


async def timed(call: Callable[[], Awaitable[object]], repeat: int) -> list[float]:
    """Milliseconds of ``repeat`` sequential calls (after 5 warm-up calls)."""
    for _ in range(5):
        await call()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"median_ms": round(statistics.median(ordered), 3),
            "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1], 3),
            "p99_ms": round(ordered[max(int(len(ordered) * 0.99) - 1, 0)], 3), "n": len(ordered)}
