"""bench/memory.py and the request mix of bench/soak.py, the pure parts of `make soak`: the slope, the
"under 150 MB and flat" verdict on made-up samples, the chart, the mix. No server, no wrk: milliseconds."""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import memory  # noqa: E402
import soak  # noqa: E402
from report import Request  # noqa: E402

TEN_MIN = [10.0 * k for k in range(61)]  # a sample every 10 s for 10 minutes


def test_slope_is_the_least_squares_fit():
    assert memory.slope([0, 60, 120], [100, 101, 102]) == pytest.approx(1 / 60)
    assert memory.slope([0, 1, 2, 3], [5, 7, 5, 7]) == pytest.approx(0.4)   # noise fits a small slope
    assert memory.slope([5], [1]) == 0.0 and memory.slope([3, 3], [1, 2]) == 0.0
    with pytest.raises(ValueError):
        memory.slope([1, 2], [1])


def test_warm_up_then_flat_is_flat_and_under_the_limit():
    # caches fill in the first minutes (+20 MB), then +-0.5 MB of allocator noise
    rss = [100 + min(t, 180) / 9 + (0.5 if k % 2 else -0.5) for k, t in enumerate(TEN_MIN)]
    out = memory.verdict({"w1": (TEN_MIN, rss)}, minutes=10)
    w = out["workers"]["w1"]
    assert w["samples"] == 31 and w["window_s"] == 300.0   # the last 5 minutes only: the warm-up is not held against it
    assert abs(w["growth_mb"]) < 0.5 and w["flat"] and w["under_limit"]
    assert out["flat"] and out["under_limit"]


def test_a_slow_leak_is_not_flat():
    rss = [100 + t / 60 * 1.0 for t in TEN_MIN]   # 1 MB a minute: 5 MB over the window, tolerance 2.2 MB (2 % of 110)
    w = memory.verdict({"w": (TEN_MIN, rss)}, minutes=10)["workers"]["w"]
    assert w["slope_mb_per_min"] == pytest.approx(1.0) and w["growth_mb"] == pytest.approx(5.0)
    assert w["tolerance_mb"] == pytest.approx(2.2) and not w["flat"]


def test_the_tolerance_is_2_mb_or_2_percent_whichever_is_larger():
    assert memory.tolerance_mb(50) == 2.0 and memory.tolerance_mb(140) == pytest.approx(2.8)
    just_under = [100 + t / 300 * 1.9 for t in TEN_MIN]   # +1.9 MB over the last 5 min: flat
    assert memory.worker_verdict(TEN_MIN, just_under, 10)["flat"]
    just_over = [100 + t / 300 * 2.2 for t in TEN_MIN]    # +2.2 MB: not (tolerance 2.0 at ~104 MB)
    assert not memory.worker_verdict(TEN_MIN, just_over, 10)["flat"]


def test_every_worker_must_pass_and_the_limit_is_read_at_the_end():
    flat = [120.0] * len(TEN_MIN)
    big = [155.0] * len(TEN_MIN)
    out = memory.verdict({"a": (TEN_MIN, flat), "b": (TEN_MIN, big)}, minutes=10)
    assert out["flat"] and not out["under_limit"]
    assert out["workers"]["a"]["under_limit"] and not out["workers"]["b"]["under_limit"]
    assert memory.verdict({}, minutes=10) == {"workers": {}, "limit_mb": 150.0, "under_limit": False, "flat": False}
    lines = memory.summary_lines(out)
    assert lines[-1] == "under 150 MB: no; flat over the last window: yes"


def test_a_short_soak_looks_at_its_second_half():
    times = [10.0 * k for k in range(13)]                 # --minutes 2
    assert memory.window(times, 2) == 60.0
    assert memory.window(TEN_MIN, 10) == 300.0
    w = memory.worker_verdict(times, [100 + t / 60 for t in times], 2)
    assert w["samples"] == 7 and w["growth_mb"] == pytest.approx(1.0) and w["flat"]


def test_the_chart_is_a_standalone_svg_with_one_line_per_worker_and_the_limit():
    svg = memory.chart_svg("RSS", [0, 10, 20], {"worker 1": [100, 101, 102], "worker 2": [99, 99, 99]})
    assert svg.startswith("<?xml") and 'xmlns="http://www.w3.org/2000/svg"' in svg and 'width="720"' in svg
    assert svg.count("<polyline") == 3 and "limit 150 MB" in svg and "0.2 min" in svg


def test_the_mix_keeps_the_weights_and_spreads_each_kind():
    lists = {"a": [Request("GET", f"/a/{i}") for i in range(7)], "b": [Request("GET", "/b")],
             "c": [Request("POST", f"/c/{i}") for i in range(3)]}
    out = soak.mix(lists, (("a", 70), ("b", 28), ("c", 2)), 1000)
    kinds = Counter(r.path.split("/")[1] for r in out)
    assert kinds == {"a": 700, "b": 280, "c": 20}
    assert {r.path for r in out if r.path.startswith("/a/")} == {f"/a/{i}" for i in range(7)}  # cycles its list
    positions = [n for n, r in enumerate(out) if r.path.startswith("/c/")]
    assert max(b - a for a, b in zip(positions, positions[1:])) <= 51   # 2 in 100: one about every 50
