"""The pure part of `make soak`: worker memory samples -> slope, verdict, chart.

Nothing here starts a process or opens a socket (tests/test_bench_soak.py runs it in milliseconds).

Why "flat" has a tolerance: a Python worker's RSS never stays byte-for-byte still. pymalloc arenas and
glibc's malloc keep freed memory around and hand it back in steps, and caches that fill on first use
(compiled templates, babel's locale data, LRU caches of parsed headers, asyncpg's prepared statement
cache) grow for a while and then stop. A leak, by contrast, grows with the requests served: even 1 KB
left behind per request is ~200 MB over 5 minutes at the soak's rate. So the verdict fits a straight
line (least squares, robust to a single jump) to each worker's RSS over the last window and calls it
flat when the fitted growth over that window is below ``max(FLAT_MB, FLAT_SHARE x RSS)`` — 2 MB or 2 %
of the worker's RSS, whichever is larger: above the allocator's noise (about 1 MB), well below any
per-request leak. What this cannot see: a leak slower than ~0.4 MB/min (it needs hours of soak).
"""
from __future__ import annotations

from typing import Mapping, Sequence

RSS_LIMIT_MB = 150.0      # the goal of issue 12: worker RSS under this after 10 minutes of mixed load
FLAT_MB = 2.0             # "flat": fitted growth over the window below the larger of these two
FLAT_SHARE = 0.02
WINDOW_MINUTES = 5.0      # ... over the last 5 minutes of the soak


def slope(times_s: Sequence[float], values: Sequence[float]) -> float:
    """Least-squares slope of ``values`` against ``times_s``, per second (0.0 for fewer than two points or
    all points at one time)."""
    n = len(times_s)
    if n != len(values):
        raise ValueError("times and values differ in length")
    if n < 2:
        return 0.0
    mt, mv = sum(times_s) / n, sum(values) / n
    var = sum((t - mt) ** 2 for t in times_s)
    if var == 0:
        return 0.0
    return sum((t - mt) * (v - mv) for t, v in zip(times_s, values)) / var


def window(times_s: Sequence[float], minutes: float) -> float:
    """The start (s) of the window the flatness verdict looks at: the last ``WINDOW_MINUTES`` of the run, or
    its second half when the run is shorter than twice that (``--minutes 2`` looks at the last minute)."""
    end = max(times_s, default=0.0)
    length = min(WINDOW_MINUTES * 60, minutes * 60 / 2)
    return max(0.0, end - length)


def tolerance_mb(rss_mb: float) -> float:
    return max(FLAT_MB, FLAT_SHARE * rss_mb)


def worker_verdict(times_s: Sequence[float], rss_mb: Sequence[float], minutes: float,
                   limit_mb: float = RSS_LIMIT_MB) -> dict:
    """One worker's numbers: RSS at the end, the least-squares slope over the window (MB/min), the growth that
    slope makes over the window, the tolerance, and the two yes/no answers."""
    if not times_s:
        return {"samples": 0, "under_limit": False, "flat": False}
    start = window(times_s, minutes)
    pts = [(t, v) for t, v in zip(times_s, rss_mb) if t >= start]
    per_s = slope([t for t, _ in pts], [v for _, v in pts])
    span_s = pts[-1][0] - pts[0][0]
    growth = per_s * span_s
    end = rss_mb[-1]
    tol = tolerance_mb(end)
    return {"samples": len(pts), "window_s": round(span_s, 1), "rss_end_mb": round(end, 1),
            "rss_max_mb": round(max(rss_mb), 1), "rss_window_start_mb": round(pts[0][1], 1),
            "slope_mb_per_min": round(per_s * 60, 3), "growth_mb": round(growth, 2),
            "tolerance_mb": round(tol, 2), "under_limit": end < limit_mb,
            "flat": len(pts) >= 3 and growth < tol}


def verdict(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], minutes: float,
            limit_mb: float = RSS_LIMIT_MB) -> dict:
    """``series``: worker name -> (times in s, RSS in MB). Every worker must be under the limit and flat."""
    workers = {name: worker_verdict(ts, vs, minutes, limit_mb) for name, (ts, vs) in series.items()}
    return {"workers": workers, "limit_mb": limit_mb,
            "under_limit": bool(workers) and all(w["under_limit"] for w in workers.values()),
            "flat": bool(workers) and all(w["flat"] for w in workers.values())}


def summary_lines(result: dict) -> list[str]:
    """What `make soak` prints at the end."""
    lines = []
    for name, w in result["workers"].items():
        if not w["samples"]:
            lines.append(f"  {name}: no samples")
            continue
        lines.append(f"  {name}: RSS {w['rss_end_mb']:.1f} MB at the end (max {w['rss_max_mb']:.1f}); last "
                     f"{w['window_s'] / 60:.1f} min: {w['slope_mb_per_min']:+.3f} MB/min, fitted growth "
                     f"{w['growth_mb']:+.2f} MB (flat below {w['tolerance_mb']:.1f})"
                     + (f", {w['growth_bytes_per_request']:+,} B/request" if w.get("growth_bytes_per_request")
                        is not None else ""))
    yes = {True: "yes", False: "no"}
    lines.append(f"under {result['limit_mb']:.0f} MB: {yes[result['under_limit']]}; "
                 f"flat over the last window: {yes[result['flat']]}")
    return lines


def chart_svg(title: str, times_s: Sequence[float], series: Mapping[str, Sequence[float]],
              limit_mb: float = RSS_LIMIT_MB) -> str:
    """RSS over time per worker, with the limit as a line, as a standalone SVG file (ecom's dashboard chart:
    same drawing, no JavaScript). The labels are minutes since the load started."""
    from ecom.charts import line_chart  # imports babel and markupsafe: only when drawing

    labels = [f"{t / 60:.1f} min" for t in times_s]
    lines = {**{name: list(vs) for name, vs in series.items()}, f"limit {limit_mb:.0f} MB": [limit_mb] * len(times_s)}
    svg = str(line_chart(title, labels, lines, value_format=lambda v: f"{v:.0f} MB"))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + svg.replace('width="100%"', 'width="720" height="260"', 1) + "\n"
