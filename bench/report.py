"""The pure parts of `make bench`: wrk's Lua script and its answer, which runs count, the table of ratios.

Nothing here starts a process or opens a socket (tests/test_bench_report.py runs it in milliseconds).
"""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from typing import Iterable, Sequence

# A run is thrown away (and made once more) when processes outside the measured groups used more than this
# many cores on average while it ran: another job on the machine, not ours, was competing for the CPU.
OTHER_CORES_LIMIT = 0.2

# process groups, in the order the table shows them
GROUPS = ("nginx", "app", "postgres", "broker", "ecom aux", "load generator")


# ------------------------------------------------------------------ wrk's Lua script and answer

@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    body: str | None = None


def lua_string(text: str) -> str:
    """``text`` as a Lua long-bracket literal (no escape is interpreted inside: JSON bodies pass as they are)."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]" if not text.startswith("\n") else f"[{eq}[\n{text}]{eq}]"


LUA_DONE = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "mean_us": %.1f, "connect_errors": %d, "read_errors": %d, "write_errors": %d, ' ..
    '"status_errors": %d, "timeouts": %d}\n', summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def lua_script(requests: Sequence[Request]) -> str:
    """A wrk script that sends ``requests`` round-robin (each thread starting elsewhere in the list) and
    prints one ``BENCH_JSON {...}`` line at the end (read back by :func:`parse_wrk`)."""
    if not requests:
        raise ValueError("no requests")
    lines = ["local defs = {"]
    for r in requests:
        headers = ", ".join(f"[ {lua_string(k)} ] = {lua_string(v)}" for k, v in r.headers)
        body = lua_string(r.body) if r.body is not None else "nil"
        lines.append(f"  {{{lua_string(r.method)}, {lua_string(r.path)}, {{{headers}}}, {body}}},")
    lines.append("}")
    lines.append(r"""
local reqs = {}
local counter = 0
local next_id = 0
function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
end
function init(args)
  for i, d in ipairs(defs) do reqs[i] = wrk.format(d[1], d[2], d[3], d[4]) end
  counter = ((tid or 0) * 7919) % #reqs
end
function request()
  counter = counter + 1
  return reqs[(counter % #reqs) + 1]
end
""")
    return "\n".join(lines) + LUA_DONE


def parse_wrk(stdout: str) -> dict:
    """The numbers of one wrk run, from the ``BENCH_JSON`` line of :data:`LUA_DONE`."""
    for line in stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            raw = json.loads(line[len("BENCH_JSON "):])
            seconds = raw["duration_us"] / 1e6
            errors = sum(raw[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors",
                                          "timeouts"))
            return {"requests": raw["requests"], "seconds": round(seconds, 3),
                    "rps": round(raw["requests"] / seconds, 1) if seconds else 0.0,
                    "p50_ms": round(raw["p50_us"] / 1000, 2), "p99_ms": round(raw["p99_us"] / 1000, 2),
                    "max_ms": round(raw["max_us"] / 1000, 2), "errors": errors,
                    "non_2xx": raw["status_errors"]}
    raise ValueError(f"wrk printed no BENCH_JSON line:\n{stdout[-2000:]}")


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (what wrk reports too); 0.0 for no samples."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil(n * pct / 100), at least 1
    return ordered[int(min(rank, len(ordered))) - 1]


# ------------------------------------------------------------------ CPU and disturbed runs

def other_cores(system_busy_s: float, groups_s: dict[str, float], seconds: float) -> float:
    """Cores used by processes outside the measured groups: machine CPU minus ours, per second of run."""
    if seconds <= 0:
        return 0.0
    return max(0.0, (system_busy_s - sum(groups_s.values())) / seconds)


def disturbed(run: dict, limit: float = OTHER_CORES_LIMIT) -> bool:
    return run.get("other_cores", 0.0) > limit


def keep_runs(runs: Sequence[dict], limit: float = OTHER_CORES_LIMIT) -> list[dict]:
    """The undisturbed runs; when every run was disturbed, all of them (flagged in the summary)."""
    clean = [r for r in runs if not disturbed(r, limit)]
    return clean or list(runs)


def summarize(runs: Sequence[dict], limit: float = OTHER_CORES_LIMIT) -> dict:
    """One path's result: the median of each number over the runs kept (see :func:`keep_runs`), CPU cores
    per group averaged, and how many runs were made, discarded, and whether the result is disturbed."""
    kept = keep_runs(runs, limit)
    out: dict = {"runs": len(runs), "discarded": len(runs) - len(kept) if len(kept) < len(runs) else 0,
                 "disturbed": all(disturbed(r, limit) for r in runs) if runs else False}
    for key in ("rps", "p50_ms", "p99_ms", "max_ms", "other_cores"):
        values = [r[key] for r in kept if r.get(key) is not None]
        if values:
            out[key] = round(statistics.median(values), 2)
    seconds = sum(r.get("cpu_window_s", r.get("seconds", 0.0)) for r in kept)  # CPU was sampled this long
    requests = sum(r.get("requests", 0) for r in kept)
    cores: dict[str, float] = {}
    ms_per_request: dict[str, float] = {}
    for group in GROUPS:
        cpu = sum(r.get("cpu_s", {}).get(group, 0.0) for r in kept)
        if seconds:
            cores[group] = round(cpu / seconds, 2)
        if requests:
            ms_per_request[group] = round(cpu * 1000 / requests, 3)
    out["cpu_cores"] = cores
    out["cpu_ms_per_request"] = ms_per_request
    out["errors"] = sum(r.get("errors", 0) for r in runs)
    extra = {k: v for r in kept for k, v in r.items() if k.startswith("x_")}
    out.update(extra)  # path-specific facts (the last kept run's), e.g. x_notes
    checks = [r["x_ok"] for r in runs if "x_ok" in r]
    if checks:
        out["x_ok"] = all(checks)  # a correctness check holds only if it held in every run, disturbed or not
    return out


# ------------------------------------------------------------------ the table

@dataclass(frozen=True)
class Row:
    """One line of the table: ``path`` measured against ``baseline`` (None: no bare equivalent)."""
    name: str
    path: str
    baseline: str | None = None
    goal: str = ""
    goal_ratio: float | None = None          # ratio at least this
    goal_p99_ms: float | None = None         # p99 below this
    metric: str = "rps"                      # what the ratio divides (rps of both)
    unit: str = "req/s"
    notes: tuple[str, ...] = field(default=())


def ratio(value: float | None, base: float | None) -> float | None:
    if not value or not base:
        return None
    return round(value / base, 2)


def evaluate(rows: Iterable[Row], results: dict[str, dict]) -> list[dict]:
    """Each row with its numbers, its baseline's, the ratio and whether the goal is met (None: no goal)."""
    out = []
    for row in rows:
        mine = results.get(row.path, {})
        base = results.get(row.baseline, {}) if row.baseline else {}
        r = ratio(mine.get(row.metric), base.get("rps")) if row.baseline else None
        met = None
        if row.goal_ratio is not None:
            met = r is not None and r >= row.goal_ratio
        if row.goal_p99_ms is not None:
            p99_ok = mine.get("p99_ms") is not None and mine["p99_ms"] < row.goal_p99_ms
            met = p99_ok if met is None else (met and p99_ok)
        if "x_ok" in mine:
            met = bool(mine["x_ok"]) if met is None else (met and bool(mine["x_ok"]))
        out.append({"name": row.name, "path": row.path, "unit": row.unit, "value": mine.get(row.metric),
                    "p50_ms": mine.get("p50_ms"), "p99_ms": mine.get("p99_ms"), "baseline": row.baseline,
                    "baseline_rps": base.get("rps") if row.baseline else None, "ratio": r, "goal": row.goal,
                    "goal_met": met, "cpu_cores": mine.get("cpu_cores", {}),
                    "app_cpu_ms_per_request": mine.get("cpu_ms_per_request", {}).get("app"),
                    "disturbed": mine.get("disturbed", False), "discarded": mine.get("discarded", 0),
                    "notes": [*row.notes, *mine.get("x_notes", [])]})
    return out


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def _cores(cores: dict[str, float]) -> str:
    short = {"nginx": "nginx", "app": "app", "postgres": "pg", "broker": "mqtt", "ecom aux": "aux",
             "load generator": "load"}
    parts = [f"{short[g]} {cores[g]:.2f}" for g in GROUPS if cores.get(g, 0) >= 0.05]
    return ", ".join(parts) or "—"


def markdown(evaluated: Sequence[dict]) -> str:
    """The table as GitHub markdown (printed by `make bench`, pasted into docs/performance.md)."""
    lines = ["| path (2 processes behind nginx) | value | p50 ms | p99 ms | baseline (same run) | ratio | goal "
             "| app CPU ms/req | CPU cores by group |",
             "|---|---:|---:|---:|---|---:|---|---:|---|"]
    for e in evaluated:
        flag = " ⚠ disturbed" if e["disturbed"] else ""
        value = f"{_num(e['value'])} {e['unit']}" if e["value"] is not None else "—"
        base = f"{e['baseline']}: {_num(e['baseline_rps'])}" if e["baseline"] else "—"
        goal = e["goal"] + (" ✓" if e["goal_met"] else " ✗" if e["goal_met"] is False else "") if e["goal"] else ""
        ratio_text = f"**{e['ratio']:.2f}**" if e["ratio"] is not None else "—"
        lines.append(f"| {e['name']}{flag} | {value} | {_num(e['p50_ms'], 1)} | {_num(e['p99_ms'], 1)} | {base} "
                     f"| {ratio_text} | {goal} | {_num(e['app_cpu_ms_per_request'], 2)} | {_cores(e['cpu_cores'])} |")
    notes = [f"- {e['name']}: {'; '.join(e['notes'])}" for e in evaluated if e["notes"]]
    notes += [f"- {e['name']}: {e['discarded']} disturbed run(s) discarded" for e in evaluated if e["discarded"]]
    return "\n".join(lines + ([""] + notes if notes else []))
