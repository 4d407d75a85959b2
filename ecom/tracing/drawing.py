"""A trace's waterfall as inline SVG for the admin trace page (the rows come from ``waterfall.layout``, the
same span tree ``run.py trace`` prints).

Why SVG with presentation attributes: our Content-Security-Policy allows no style attributes and no
scripts from elsewhere, and a picture shows where the time went faster than a table of numbers. Each
bar carries its text (a ``<title>``: name, process, start, duration) and the page lists every span in a
table as well, for screen readers and for copying.
"""
from __future__ import annotations

from markupsafe import Markup, escape

from ..i18n import _
from .waterfall import Row

WIDTH = 960
LABELS = 400                # the left part: span names, indented by depth
BARS = WIDTH - LABELS - 16  # the time line
ROW, TOP = 20, 28
INDENT, CHAR = 12, 6.6      # px per level; an average character at font-size 11
COLOURS = {"SERVER": "#0d6efd", "CLIENT": "#6c757d", "PRODUCER": "#fd7e14", "CONSUMER": "#198754",
           "INTERNAL": "#6f42c1"}
ERROR = "#dc3545"


def ms(ns: int) -> str:
    return f"{ns / 1e6:.1f}"


def bar_text(row: Row) -> str:
    """The words of one bar, for its tooltip and for screen readers."""
    return _("{span} ({service}): starts at {start} ms, lasts {duration} ms").format(
        span=row.label, service=row.service or "-", start=ms(row.offset_ns), duration=ms(row.duration_ns))


def _fit(text: str, room: float) -> str:
    most = max(int(room / CHAR), 4)
    return text if len(text) <= most else text[:most - 1] + "…"


def waterfall_svg(rows: list[Row], total_ns: int, ident: str) -> Markup:
    """One trace: a time axis, then per span its indented name and a bar placed on the trace's time line."""
    height = TOP + ROW * len(rows) + 8
    title = _("Waterfall of trace {trace}: {count} spans, {duration} ms").format(
        trace=ident, count=len(rows), duration=ms(total_ns))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" '
             f'role="img" aria-labelledby="wf-{ident}-t wf-{ident}-d" class="trace-waterfall">',
             f'<title id="wf-{ident}-t">{escape(title)}</title>',
             f'<desc id="wf-{ident}-d">{escape(_("Each row is a span, indented under its parent; the table below lists them."))}</desc>']
    for i in range(5):  # the time axis: 0, a quarter, ... the whole trace
        x = LABELS + BARS * i / 4
        parts.append(f'<line x1="{x:.1f}" y1="{TOP - 6}" x2="{x:.1f}" y2="{height - 4}" stroke="#dee2e6"/>')
        parts.append(f'<text x="{x:.1f}" y="{TOP - 10}" font-size="10" text-anchor="middle" fill="#6c757d">'
                     f'{ms(round(total_ns * i / 4))} ms</text>')
    for n, row in enumerate(rows):
        y = TOP + n * ROW
        x = LABELS + BARS * row.offset_ns / total_ns
        width = max(BARS * row.duration_ns / total_ns, 1.5)
        colour = ERROR if row.error else COLOURS.get(row.kind, COLOURS["INTERNAL"])
        indent = 4 + INDENT * row.depth
        parts.append(f'<g><title>{escape(bar_text(row))}</title>'
                     f'<text x="{indent}" y="{y + 14}" font-size="11" fill="#212529">'
                     f'{escape(_fit(row.label, LABELS - indent - 8))}</text>'
                     f'<rect x="{x:.1f}" y="{y + 4}" width="{width:.1f}" height="{ROW - 8}" rx="2" fill="{colour}"/></g>')
    parts.append("</svg>")
    return Markup("".join(parts))
