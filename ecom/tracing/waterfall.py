"""``run.py trace ORDER_ID``: the checkout's trace, read from the JSON-lines file, drawn as a waterfall.

Why in a terminal: a newcomer sees one trace across both plugins and MQTT without running a collector.
The trace is found by the ``ecom.order_id`` attribute (set on the span that emitted the order's first
event, and on the publish and handler spans of every event about it). Each line is one span: its start
and duration in ms, a bar placed on the trace's time line, and its name indented under its parent.
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from . import ORDER_ID  # not from .spans: reading a file must not import OpenTelemetry

BAR = 40  # characters for the whole trace's duration


def read_spans(path: Path) -> Iterator[dict]:
    """Spans of ``path`` and of its rotated predecessor (``<path>.1``); torn or foreign lines are skipped."""
    for file in (path.with_name(path.name + ".1"), path):
        try:
            with file.open(encoding="utf-8", errors="replace") as lines:
                for line in lines:
                    try:
                        span = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(span, dict) and "trace_id" in span and "span_id" in span:
                        yield span
        except FileNotFoundError:
            continue


def traces_of_order(spans: Iterable[dict], order_id: str) -> dict[str, list[dict]]:
    """Every trace (id -> its spans) that has a span about ``order_id``, in the order they began."""
    by_trace: dict[str, list[dict]] = defaultdict(list)
    wanted: set[str] = set()
    for span in spans:
        by_trace[span["trace_id"]].append(span)
        if (span.get("attributes") or {}).get(ORDER_ID) == order_id:
            wanted.add(span["trace_id"])
    found = {tid: by_trace[tid] for tid in wanted}
    return dict(sorted(found.items(), key=lambda item: min(s["start_ns"] for s in item[1])))


@dataclass(frozen=True)
class Row:
    """One span of a waterfall, placed: what both the terminal and the admin page draw."""
    depth: int          # levels below its root (its parent's depth + 1)
    offset_ns: int      # when it started after the trace began
    duration_ns: int
    label: str          # name, the plugin database or consumer it concerns, its outcome, "!" on error
    service: str        # the process that made it ("worker-2 pid 1234")
    kind: str           # SERVER, CLIENT (SQL), PRODUCER (publish), CONSUMER (handler), INTERNAL
    error: bool


def _label(span: dict) -> str:
    attributes = span.get("attributes") or {}
    name = span["name"]
    database = attributes.get("db.name") or attributes.get("db.namespace")
    if database:  # which plugin's database the statement went to
        name += f" {database}"
    if attributes.get("ecom.consumer"):
        name += f" [{attributes['ecom.consumer']}]"
    if attributes.get("ecom.outcome"):
        name += f" ({attributes['ecom.outcome']})"
    if span.get("status") == "ERROR":
        name += " !"
    return name


def layout(spans: list[dict]) -> tuple[list[Row], int]:
    """The rows of one trace in drawing order (children under their parent, each level sorted by start)
    and the trace's whole length in ns. One span tree for every drawing: the terminal's and the page's."""
    ids = {s["span_id"] for s in spans}
    children: dict[str | None, list[dict]] = defaultdict(list)
    for span in spans:
        parent = span.get("parent_id")
        children[parent if parent in ids else None].append(span)  # a parent not exported: drawn as a root
    for group in children.values():
        group.sort(key=lambda s: s["start_ns"])
    start = min(s["start_ns"] for s in spans)
    total = max(max(s["end_ns"] for s in spans) - start, 1)
    rows: list[Row] = []

    def place(span: dict, depth: int) -> None:
        rows.append(Row(depth, span["start_ns"] - start, span["end_ns"] - span["start_ns"], _label(span),
                        span.get("service") or "", span.get("kind") or "INTERNAL", span.get("status") == "ERROR"))
        for child in children.get(span["span_id"], ()):
            place(child, depth + 1)

    for root in children[None]:
        place(root, 0)
    return rows, total


def render(spans: list[dict], width: int = BAR) -> str:
    """The waterfall of one trace's spans as text: start, duration, a bar on the time line, indented name."""
    rows, total = layout(spans)
    lines = [f"trace {spans[0]['trace_id']}: {len(spans)} spans, {total / 1e6:.1f} ms",
             f"{'start ms':>9} {'dur ms':>8} {'timeline':<{width + 2}} span"]
    for row in rows:
        left = min(int(row.offset_ns * width / total), width - 1)
        length = max(1, min(round(row.duration_ns * width / total), width - left))
        bar = " " * left + "█" * length + " " * (width - left - length)
        lines.append(f"{row.offset_ns / 1e6:9.1f} {row.duration_ns / 1e6:8.1f} |{bar}| {'  ' * row.depth}{row.label}")
    return "\n".join(lines)


def spans_of_trace(spans: Iterable[dict], trace_id: str) -> list[dict]:
    """Every span of one trace."""
    return [span for span in spans if span["trace_id"] == trace_id]


def show(path: Path, order_id: str, out=None) -> int:
    """Print the waterfall of every trace about ``order_id``; 1 with one line on stderr if there is none."""
    traces = traces_of_order(read_spans(path), order_id)
    if not traces:
        where = path if path.exists() else f"{path} (no such file: is [tracing] enabled with exporter = \"file\"?)"
        print(f"ecom: no trace of order {order_id} in {where}", file=sys.stderr)
        return 1
    # sys.stdout as it is now: a default bound at import would keep whatever stdout was then (the admin page
    # imports this module inside a server; a test's capture replaces stdout)
    print("\n\n".join(render(spans) for spans in traces.values()), file=out or sys.stdout)
    return 0
