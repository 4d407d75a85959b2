"""The circuit breakers of the plugin databases as the admin dashboard shows them: each database's state,
the worst over the shop's live workers, and the calls its circuit refused without trying.

Why from the metrics: a breaker lives in one process (ecom/resilience.py), and the admin's request reaches
one worker, whose own breakers say nothing of the others'. Every breaker already writes its state and its
refusals to Prometheus (ecom/metrics.py); with several workers (``run.py --instances N``) those live in
the shared multiprocess folder, where the state gauge counts only live workers (``livemax``), so reading
them is how one worker sees them all: the same numbers its /metrics serves. With one process, the metrics
are this process's own.

No history is kept (the dashboards own no data; Prometheus keeps it when it scrapes), so the panel shows
the state now and the refusals since the shop started, and draws no chart.
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import Iterable

from prometheus_client.multiprocess import MultiProcessCollector

from ecom.metrics import CIRCUIT_REFUSED, CIRCUIT_STATE, CIRCUIT_STATES, MULTIPROC_ENV

STATE_SAMPLE, REFUSED_SAMPLE = "ecom_circuit_state", "ecom_circuit_refused_total"
BY_CODE = {code: state for state, code in CIRCUIT_STATES.items()}   # 0 closed, 1 half-opened, 2 opened


@dataclass(frozen=True)
class Circuit:
    name: str      # the plugin whose database it guards
    state: str     # closed, half-opened or opened: the worst over the live workers
    refused: int   # calls refused without trying, by every worker since the shop started

    @property
    def closed(self) -> bool:
        return self.state == "closed"


@dataclass(frozen=True)
class Readings:
    """What the metrics say, per circuit: the worst state code and the refused calls (all workers)."""
    states: dict[str, int]
    refused: dict[str, int]


def _families() -> Iterable:
    folder = os.environ.get(MULTIPROC_ENV)
    if folder and os.path.isdir(folder):
        # only the files that can hold these two: live-max gauges and counters (not every histogram)
        files = [*glob.glob(os.path.join(folder, "gauge_livemax_*.db")),
                 *glob.glob(os.path.join(folder, "counter_*.db"))]
        return MultiProcessCollector.merge(files, accumulate=True)
    return [*CIRCUIT_STATE.collect(), *CIRCUIT_REFUSED.collect()]


def read_metrics() -> Readings:
    """The circuits' metrics of every worker (multiprocess folder) or of this process. Reads files: call
    it off the event loop."""
    states: dict[str, int] = {}
    refused: dict[str, int] = {}
    for family in _families():
        for sample in family.samples:
            name = sample.labels.get("circuit")
            if name is None:
                continue
            if sample.name == STATE_SAMPLE:
                states[name] = max(states.get(name, 0), int(sample.value))
            elif sample.name == REFUSED_SAMPLE:
                refused[name] = refused.get(name, 0) + int(sample.value)
    return Readings(states, refused)


def shop_circuits(local: dict[str, str], readings: Readings) -> list[Circuit]:
    """One :class:`Circuit` per plugin database of this shop (``local``: this process's breakers, as the
    health snapshot lists them), worst state first then by name. This process's own state counts too, so
    the panel is never rosier than the worker showing it."""
    worst = CIRCUIT_STATES["opened"]
    circuits = []
    for name, state in local.items():
        code = max(CIRCUIT_STATES.get(state, worst), readings.states.get(name, 0))
        circuits.append(Circuit(name, BY_CODE.get(code, "opened"), readings.refused.get(name, 0)))
    return sorted(circuits, key=lambda c: (-CIRCUIT_STATES[c.state], c.name))
