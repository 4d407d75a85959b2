"""A span exporter to a local JSON-lines file: one span per line, for ``run.py trace`` (no collector).

Why one ``os.write`` per batch on an O_APPEND descriptor: the workers of an ``--instances N`` shop share
the file, and appends of one write each do not interleave on a local file system. The exporter runs in
the SDK's batch thread, never on the event loop. At ``max_bytes`` the file is renamed to ``<name>.1``
(replacing the previous one), so a shop left tracing does not fill its disk; the reader reads both.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


def record(span: ReadableSpan) -> dict[str, Any]:
    """The fields the waterfall needs, ids in the W3C hex form that collectors show too."""
    ctx, parent = span.context, span.parent
    return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x"),
            "parent_id": format(parent.span_id, "016x") if parent is not None else None,
            "name": span.name, "kind": span.kind.name, "start_ns": span.start_time, "end_ns": span.end_time,
            "status": span.status.status_code.name,
            "service": span.resource.attributes.get("service.instance.id", ""),
            "attributes": dict(span.attributes or {})}


class JsonLinesExporter(SpanExporter):
    def __init__(self, path: str | Path, max_bytes: int = 100 * 1024 * 1024):
        self.path, self.max_bytes = Path(path), max_bytes
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        data = "".join(json.dumps(record(s), separators=(",", ":"), default=str) + "\n" for s in spans).encode()
        try:
            self._rotate_if_full()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def _rotate_if_full(self) -> None:
        try:
            if self.path.stat().st_size >= self.max_bytes:
                os.replace(self.path, self.path.with_name(self.path.name + ".1"))
        except FileNotFoundError:
            pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
