"""bench/report.py, the pure part of `make bench`: wrk's script and answer, discarded runs, the ratio table.

No server, no wrk: milliseconds."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import report  # noqa: E402
from report import Request, Row  # noqa: E402


def test_lua_string_never_closes_early():
    assert report.lua_string("plain") == "[[plain]]"
    assert report.lua_string("a]]b") == "[=[a]]b]=]"
    assert report.lua_string("a]]b]=]c") == "[==[a]]b]=]c]==]"
    assert report.lua_string('{"k": "v\\n"}') == '[[{"k": "v\\n"}]]'  # no escape is interpreted


def test_lua_script_holds_every_request_and_prints_one_json_line():
    script = report.lua_script([Request("GET", "/a"), Request("POST", "/b", (("Cookie", "s=x=="),), '{"q": 1}')])
    assert "{[[GET]], [[/a]], {}, nil}," in script
    assert '[ [[Cookie]] ] = [[s=x==]]' in script  # "[ [[" : "[[[" would open a long string in Lua
    assert '[[{"q": 1}]]' in script
    assert "function request()" in script and "BENCH_JSON" in script
    with pytest.raises(ValueError):
        report.lua_script([])


def test_parse_wrk_reads_the_json_line():
    line = {"requests": 3000, "duration_us": 10_000_000, "p50_us": 12_500, "p99_us": 80_000, "max_us": 120_000,
            "mean_us": 15000.0, "connect_errors": 0, "read_errors": 1, "write_errors": 0, "status_errors": 2,
            "timeouts": 0}
    out = report.parse_wrk("Running 10s test\n  2 threads\nBENCH_JSON " + json.dumps(line) + "\n")
    assert out == {"requests": 3000, "seconds": 10.0, "rps": 300.0, "p50_ms": 12.5, "p99_ms": 80.0, "max_ms": 120.0,
                   "errors": 3, "non_2xx": 2}
    with pytest.raises(ValueError, match="no BENCH_JSON"):
        report.parse_wrk("Requests/sec: 12.0\n")


def test_percentile_is_nearest_rank():
    samples = list(range(1, 101))
    assert report.percentile(samples, 50) == 50
    assert report.percentile(samples, 99) == 99
    assert report.percentile([7.0], 99) == 7.0
    assert report.percentile([], 99) == 0.0


def test_other_cores_is_machine_cpu_minus_the_groups():
    assert report.other_cores(10.0, {"app": 6.0, "postgres": 2.0}, 10.0) == pytest.approx(0.2)
    assert report.other_cores(1.0, {"app": 1.5}, 10.0) == 0.0  # clock ticks: never below zero
    assert report.other_cores(5.0, {}, 0.0) == 0.0


def _run(rps: float, other: float, **more) -> dict:
    return {"rps": rps, "p50_ms": 10.0, "p99_ms": 50.0, "requests": int(rps * 10), "seconds": 10.0,
            "cpu_s": {"app": 15.0, "nginx": 2.0}, "other_cores": other, **more}


def test_disturbed_runs_are_discarded_and_the_median_taken():
    runs = [_run(100, 0.05), _run(400, 0.9), _run(120, 0.1), _run(110, 0.0)]
    out = report.summarize(runs)
    assert out["runs"] == 4 and out["discarded"] == 1 and not out["disturbed"]
    assert out["rps"] == 110  # median of 100, 120, 110: the disturbed 400 is not among them
    assert out["cpu_cores"]["app"] == 1.5 and out["cpu_cores"]["nginx"] == 0.2
    assert out["cpu_ms_per_request"]["app"] == pytest.approx(15000 * 3 / 3300, abs=0.001)


def test_all_runs_disturbed_are_kept_but_flagged():
    out = report.summarize([_run(100, 0.5), _run(200, 0.6)])
    assert out["disturbed"] and out["discarded"] == 0 and out["rps"] == 150


def test_cpu_cores_use_the_sampled_window():
    out = report.summarize([_run(100, 0.0, cpu_window_s=20.0)])  # checkout: the drain after the load counts
    assert out["cpu_cores"]["app"] == 0.75


def test_a_correctness_check_must_hold_in_every_run():
    out = report.summarize([_run(100, 0.0, x_ok=True), _run(100, 0.0, x_ok=False)])
    assert out["x_ok"] is False


ROWS = [Row("bare page", "page"), Row("catalog", "catalog", "page", "≥ 0.6", goal_ratio=0.6),
        Row("api", "api", "page", "≥ 0.7", goal_ratio=0.7),
        Row("rush", "rush", None, "p99 < 1 s", goal_p99_ms=1000)]


def test_evaluate_divides_by_the_baseline_and_checks_goals():
    results = {"page": {"rps": 1000.0}, "catalog": {"rps": 650.0, "p99_ms": 90.0},
               "api": {"rps": 300.0}, "rush": {"rps": 150.0, "p99_ms": 800.0, "x_ok": False}}
    rows = {e["path"]: e for e in report.evaluate(ROWS, results)}
    assert rows["page"]["ratio"] is None and rows["page"]["goal_met"] is None
    assert rows["catalog"]["ratio"] == 0.65 and rows["catalog"]["goal_met"] is True
    assert rows["api"]["ratio"] == 0.3 and rows["api"]["goal_met"] is False
    assert rows["rush"]["goal_met"] is False  # p99 is fine, but the check failed


def test_evaluate_without_numbers_has_no_ratio():
    rows = report.evaluate(ROWS, {"catalog": {"rps": 10.0}})
    assert rows[1]["ratio"] is None and rows[1]["goal_met"] is False


def test_markdown_table():
    results = {"page": {"rps": 1000.0, "p50_ms": 10.0, "p99_ms": 40.0},
               "catalog": {"rps": 650.0, "p50_ms": 30.0, "p99_ms": 90.0, "disturbed": True, "x_notes": ["n1"],
                           "cpu_cores": {"app": 1.5, "postgres": 0.2, "broker": 0.01},
                           "cpu_ms_per_request": {"app": 2.31}}}
    text = report.markdown(report.evaluate(ROWS[:2], results))
    lines = text.splitlines()
    assert lines[0].startswith("| path") and lines[1].startswith("|---")
    assert "| bare page | 1,000 req/s | 10.0 | 40.0 | — | — |" in lines[2]
    assert "catalog ⚠ disturbed" in lines[3] and "**0.65**" in lines[3] and "≥ 0.6 ✓" in lines[3]
    assert "app 1.50, pg 0.20 |" in lines[3] and "mqtt" not in lines[3]  # groups under 0.05 cores left out
    assert "| 2.31 |" in lines[3]
    assert lines[-1] == "- catalog: n1"
