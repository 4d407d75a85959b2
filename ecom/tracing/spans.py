"""The spans the core makes itself, and the W3C trace context carried inside event envelopes.

An event's envelope gets the ``traceparent`` of the span that emitted it (an HTTP request, a handler).
The relay publishes it in a PRODUCER span that continues that context and puts its own context in the
envelope before signing (so the signature covers it, and a forged context is as refused as a forged
event); the consumer's handler runs in a CONSUMER span under it. So one trace reads: HTTP checkout ->
SQL -> publish -> payments handler -> SQL -> publish (the result) -> orders handler.

Events without a context (emitted by background loops outside any span) get no spans: a trace follows
a request, and the file is not filled with the housekeeping of idle workers.
"""
from __future__ import annotations

import contextlib
import json
from typing import Any, Callable, Iterator

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from . import NO_SPAN, ORDER_ID

_propagator = TraceContextTextMapPropagator()
_tracer = trace.get_tracer("ecom")  # a proxy: follows the provider that setup installs


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def parent_context(traceparent: str) -> otel_context.Context:
    return _propagator.extract({"traceparent": traceparent})


def _annotate(span: Any, data: dict[str, Any]) -> None:
    order_id = data.get("order_id")
    if isinstance(order_id, str) and span.is_recording():
        span.set_attribute(ORDER_ID, order_id)


def carry(data: dict[str, Any]) -> str | None:
    span = trace.get_current_span()
    if not span.get_span_context().is_valid:
        return None
    _annotate(span, data)
    return current_traceparent()


@contextlib.contextmanager
def continued(traceparent: str, name: str) -> Iterator[Any]:
    with _tracer.start_as_current_span(name, context=parent_context(traceparent), kind=SpanKind.INTERNAL) as span:
        yield span


async def publish(client: Any, plugin: str, topic: str, payload: str, sign: Callable[[str, str], str]) -> Any:
    """``client.publish`` of one outbox row, in a PRODUCER span when the event carries a context."""
    fields = json.loads(payload)
    parent = fields.get("traceparent")
    if not isinstance(parent, str):
        return await client.publish(topic, sign(plugin, payload), qos=1, timeout=10)
    attributes = {"messaging.system": "mqtt", "messaging.destination.name": topic,
                  "messaging.message.id": str(fields.get("id")), "ecom.producer": plugin}
    with _tracer.start_as_current_span(f"publish {topic}", context=parent_context(parent), kind=SpanKind.PRODUCER,
                                       attributes=attributes) as span:
        _annotate(span, fields.get("data") or {})
        fields["traceparent"] = current_traceparent() or parent  # the consumer's parent is this publish
        return await client.publish(topic, sign(plugin, json.dumps(fields, default=str)), qos=1, timeout=10)


def handling(consumer: str, env: Any) -> Any:
    """A CONSUMER span for one handler's delivery of ``env`` (NO_SPAN if the event carries no context)."""
    if not env.traceparent:
        return NO_SPAN
    return _handling(consumer, env)


@contextlib.contextmanager
def _handling(consumer: str, env: Any) -> Iterator[Any]:
    attributes = {"messaging.system": "mqtt", "messaging.destination.name": env.type,
                  "messaging.message.id": str(env.id), "ecom.consumer": consumer}
    with _tracer.start_as_current_span(f"handle {env.type}", context=parent_context(env.traceparent),
                                       kind=SpanKind.CONSUMER, attributes=attributes) as span:
        _annotate(span, env.data)
        yield span


def outcome(span: Any, result: str) -> None:
    """Say how a delivery ended: every worker receives every event, so most copies are 'duplicate' or
    'busy', and only one is 'applied' (the waterfall shows which)."""
    if span is not None and span.is_recording():
        span.set_attribute("ecom.outcome", result)
        if result in ("dead_lettered", "rejected", "deferred"):
            span.set_status(Status(StatusCode.ERROR, result))


def log_ids() -> dict[str, str]:
    """trace_id and span_id of the current span, for every log line ("-" outside any span)."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return {"trace_id": "-", "span_id": "-"}
    return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}
