"""Charts as inline SVG made on the server: no JavaScript, no CDN, allowed by our Content-Security-Policy
(only presentation attributes, no style attributes), readable by screen readers (role="img", a title
and a description listing the numbers).

Every text is the caller's, already in the reader's language (``_()``), and so are the labels and the
``value_format`` (``ecom.i18n.money`` / ``number``): a chart is drawn inside the request that shows it.

    from ecom.charts import bar_chart, line_chart
    svg = line_chart(_("Revenue per day"), days, {_("Revenue"): cents}, value_format=lambda v: money(round(v), "EUR"))
    return render_template("x.html", request, {"chart": svg})      # {{ chart }} in the template
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

from markupsafe import Markup, escape

from ecom.i18n import _, number

PALETTE = ("#0d6efd", "#198754", "#dc3545", "#fd7e14", "#6f42c1", "#20c997", "#6c757d", "#ffc107")
WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 28, 44


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _frame(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float]],
           value_format: Callable[[float], str], top: float) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [f'<text x="{LEFT}" y="18" font-size="14" font-weight="600" fill="#212529">{escape(title)}</text>']
    for i in range(5):  # horizontal grid with value labels
        value = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#dee2e6"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#6c757d">'
                     f'{escape(value_format(value))}</text>')
    step = max(1, len(labels) // 8)
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    for i, label in enumerate(labels):
        if i % step == 0:
            x = LEFT + slot * (i + 0.5)
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" font-size="11" text-anchor="middle" '
                         f'fill="#6c757d">{escape(label)}</text>')
    spacing = min(150.0, (WIDTH - LEFT - RIGHT) / max(len(series), 1))  # every legend entry fits the width
    for i, name in enumerate(series):  # legend
        x = LEFT + i * spacing
        parts.append(f'<rect x="{x:.1f}" y="{HEIGHT - 16}" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>')
        parts.append(f'<text x="{x + 14:.1f}" y="{HEIGHT - 7}" font-size="11" fill="#212529">{escape(name)}</text>')
    return parts


def _svg(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float]],
         value_format: Callable[[float], str], parts: list[str]) -> Markup:
    described = "; ".join(f"{name}: " + ", ".join(f"{label} {value_format(v)}" for label, v in zip(labels, values))
                          for name, values in series.items())
    return Markup(
        f'<svg class="ecom-chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f'<title>{escape(title)}</title><desc>{escape(described or _("no data"))}</desc>{"".join(parts)}</svg>')


def line_chart(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float]], *,
               value_format: Callable[[float], str] = lambda v: number(v, 0)) -> Markup:
    """One line per series over the same labels (e.g. days)."""
    top = _nice_max(max((v for values in series.values() for v in values), default=0))
    parts = _frame(title, labels, series, value_format, top)
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    for i, values in enumerate(series.values()):
        colour = PALETTE[i % len(PALETTE)]
        points = " ".join(f"{LEFT + slot * (j + 0.5):.1f},{TOP + plot_h - plot_h * v / top:.1f}"
                          for j, v in enumerate(values))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for point in points.split():
            x, y = point.split(",")
            parts.append(f'<circle cx="{x}" cy="{y}" r="2.5" fill="{colour}"/>')
    return _svg(title, labels, series, value_format, parts)


def bar_chart(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float]], *,
              value_format: Callable[[float], str] = lambda v: number(v, 0), stacked: bool = True) -> Markup:
    """Bars per label; several series are stacked (or side by side with ``stacked=False``)."""
    totals = [sum(values[j] for values in series.values()) for j in range(len(labels))]
    highest = max(totals if stacked else [v for values in series.values() for v in values], default=0)
    top = _nice_max(highest)
    parts = _frame(title, labels, series, value_format, top)
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    width = slot * 0.7 / (1 if stacked else max(len(series), 1))
    base = [0.0] * len(labels)
    for i, values in enumerate(series.values()):
        colour = PALETTE[i % len(PALETTE)]
        for j, value in enumerate(values):
            h = plot_h * value / top
            x = LEFT + slot * j + slot * 0.15 + (0 if stacked else i * width)
            y = TOP + plot_h - h - (plot_h * base[j] / top if stacked else 0)
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{h:.1f}" fill="{colour}"/>')
            if stacked:
                base[j] += value
    return _svg(title, labels, series, value_format, parts)
