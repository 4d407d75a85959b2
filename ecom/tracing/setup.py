"""Turning tracing on and off in one process: the provider, the sampler, the exporter, the instrumentations.

One TracerProvider per process (OpenTelemetry allows the global one to be set once), whose sampler and
span processor are switches that :func:`enable` points at this config and :func:`disable` empties: tests
and tools that create several apps in one process turn tracing on and off without stale state. On
disable the asyncpg and aiohttp instrumentations are removed again, so nothing keeps wrapping queries.
"""
from __future__ import annotations

import logging
import os
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult, TraceIdRatioBased
from opentelemetry.trace import SpanKind

from .. import logs
from ..config import Config
from . import spans
import ecom.tracing as state

log = logging.getLogger("ecom.tracing")

# health probes, metrics scrapes and static files are not what anyone traces (the instrumentation's own knob)
EXCLUDED_URLS = "/healthz,/readyz,/metrics,/static/"


class _Sampler(Sampler):
    """The configured ratio for new traces (children follow their parent), and no orphan database spans:
    a query outside any span (a relay's poll, catch-up, a scheduler's claim) would start a trace of one."""

    def __init__(self) -> None:
        self.inner: Sampler = ParentBased(TraceIdRatioBased(1.0))

    def should_sample(self, parent_context: Any, trace_id: int, name: str, kind: SpanKind | None = None,
                      attributes: Any = None, links: Any = None, trace_state: Any = None) -> SamplingResult:
        if kind == SpanKind.CLIENT and not trace.get_current_span(parent_context).get_span_context().is_valid:
            return SamplingResult(Decision.DROP)
        return self.inner.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"ecom({self.inner.get_description()})"


class _Switch(SpanProcessor):
    """Hands finished spans to the exporter of the current configuration, or drops them when off."""

    def __init__(self) -> None:
        self.delegate: SpanProcessor | None = None

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if self.delegate is not None:
            self.delegate.on_start(span, parent_context)

    def on_end(self, span: Any) -> None:
        if self.delegate is not None:
            self.delegate.on_end(span)

    def shutdown(self) -> None:
        if self.delegate is not None:
            self.delegate.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.delegate.force_flush(timeout_millis) if self.delegate is not None else True


_sampler, _switch = _Sampler(), _Switch()
_provider: TracerProvider | None = None
_users = 0
_instrumentors: list[Any] = []


def exporter_for(config: Config) -> Any:
    t = config.tracing
    if t.exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        return OTLPSpanExporter(endpoint=t.endpoint or None)
    from .jsonfile import JsonLinesExporter
    return JsonLinesExporter(state.trace_file(config), max_bytes=t.file_max_mb * 1024 * 1024)


def enable(config: Config, service: str) -> None:
    global _provider, _users
    _users += 1
    if state.on:
        return
    if _provider is None:
        resource = Resource.create({"service.name": "ecom", "service.instance.id": f"{service} pid {os.getpid()}"})
        _provider = TracerProvider(sampler=_sampler, resource=resource)
        _provider.add_span_processor(_switch)
        trace.set_tracer_provider(_provider)
    _sampler.inner = ParentBased(TraceIdRatioBased(config.tracing.sample_ratio))
    # spans leave in the SDK's own thread, a second after they end (a newcomer's `run.py trace` sees them soon)
    _switch.delegate = BatchSpanProcessor(exporter_for(config), schedule_delay_millis=1000)
    os.environ.setdefault("OTEL_PYTHON_AIOHTTP_SERVER_EXCLUDED_URLS", EXCLUDED_URLS)
    from opentelemetry.instrumentation.aiohttp_server import AioHttpServerInstrumentor
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    _instrumentors[:] = [AioHttpServerInstrumentor(), AsyncPGInstrumentor()]
    for instrumentor in _instrumentors:
        instrumentor.instrument(tracer_provider=_provider)
        if not instrumentor.is_instrumented_by_opentelemetry:  # it logs why (a version it does not support)
            log.warning("tracing: %s could not be installed; its spans are missing", type(instrumentor).__name__)
    logs.trace_ids = spans.log_ids
    state.on = True
    log.info("tracing on: %s, sampling %g of new traces", config.tracing.exporter, config.tracing.sample_ratio)


def disable() -> None:
    global _users
    _users = max(_users - 1, 0)
    if _users or not state.on:
        return
    state.on = False
    logs.trace_ids = None
    for instrumentor in _instrumentors:
        instrumentor.uninstrument()
    _instrumentors.clear()
    delegate, _switch.delegate = _switch.delegate, None
    if delegate is not None:
        delegate.shutdown()  # exports what is still queued
