"""OpenTelemetry tracing of one checkout across plugins and MQTT, off by default ([tracing] in config.toml).

Why a flag and late imports: a shop that does not trace must pay nothing for it (issue 12 cut the work
per request hard). Off, no middleware is added, asyncpg is not wrapped and OpenTelemetry is not even
imported; the hooks in the core read :data:`on` (one module attribute) and do nothing more. On, the
process gets aiohttp server spans, asyncpg spans, a span per outbox publish and one per event handler;
the W3C ``traceparent`` rides inside the signed envelope, so a consumer continues the producer's trace
(``spans``). Spans go to a collector (OTLP/HTTP) or to a JSON-lines file that ``run.py trace ORDER_ID``
draws as a waterfall (``jsonfile``, ``waterfall``). Every log line then carries trace and span ids.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import Config

on = False  # True while this process traces (set by enable, cleared by disable)

ORDER_ID = "ecom.order_id"  # on the span that emitted an event with an order id, and on its spans
NO_SPAN = contextlib.nullcontext()  # reusable: what a hook enters when there is nothing to trace


def trace_file(config: "Config") -> Path:
    """Where the "file" exporter writes and ``run.py trace`` reads: [tracing] file, else in the data dir."""
    return Path(config.tracing.file) if config.tracing.file else config.data_dir / "traces.jsonl"


def enable(config: "Config", service: str) -> None:
    """Start tracing in this process (idempotent: several apps in one process share it)."""
    from .setup import enable as _enable
    _enable(config, service)


def disable() -> None:
    """Flush what was recorded and stop tracing, once the last app that enabled it is gone."""
    if on:
        from .setup import disable as _disable
        _disable()


def carry(data: dict[str, Any]) -> str | None:
    """The current span's W3C traceparent for an event being emitted (None outside any span); the span is
    marked with the event's order id, so ``run.py trace ORDER_ID`` finds the trace. Call only when on."""
    from .spans import carry as _carry
    return _carry(data)


def continued(traceparent: str | None, name: str) -> Any:
    """A span continuing a carried context (for work resumed later, like a due payment), or NO_SPAN."""
    if not on or not traceparent:
        return NO_SPAN
    from .spans import continued as _continued
    return _continued(traceparent, name)
