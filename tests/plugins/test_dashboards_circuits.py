"""The admin dashboard shows each plugin database's circuit breaker (plugins/dashboards/circuits.py): with
inventory's database away its circuit opens through the real path (the dashboard's own health check of
that database fails ``breaker_threshold`` times, then is refused without trying), the page says so in
words, icon and colour, in English and Spanish, with the calls refused; once the database is back the
circuit closes by itself and the panel is one line again. Real PostgreSQL, broker and HTTP."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from ecom.app import create_app
from ecom.metrics import MULTIPROC_ENV, worker_exited
from plugins.dashboards.circuits import read_metrics, shop_circuits
from tests.conftest import ROOT
from tests.faults import database_unreachable
from tests.helpers import account as user
from tests.helpers import wait_until
from tests.plugins.test_dashboards import PLUGINS, bearer

ES = {"Accept-Language": "es-ES,es;q=0.9"}


@pytest.fixture
async def shop(aiohttp_client, make_config):
    config = make_config(fresh=True, plugins={"enabled": PLUGINS, "payments": {"delay_seconds": 0}})
    return await aiohttp_client(create_app(config)), config


def circuits(page: str) -> dict[str, tuple[str, int]]:
    """The circuits table of an admin dashboard: plugin -> (state, calls refused)."""
    return {name: (state, int(refused)) for name, state, refused in re.findall(
        r'<tr data-circuit="([^"]+)" data-state="([^"]+)">.*?data-refused="(\d+)"', page, re.S)}


class AdminPage:
    """Loads /admin as an admin; keeps the last page (for the assertions) and returns only its status and
    circuits (what a timed-out wait prints)."""

    def __init__(self, client, token: str, headers: dict | None = None):
        self.client, self.headers, self.page = client, {**bearer(token), **(headers or {})}, ""

    async def __call__(self) -> tuple[int, dict[str, tuple[str, int]], bool]:
        resp = await self.client.get("/admin", headers=self.headers)
        self.page = await resp.text()
        return resp.status, circuits(self.page), 'id="circuits-closed"' in self.page


def inventory_open(seen) -> bool:
    status, shown, _ = seen
    return status == 200 and shown.get("inventory", ("", 0))[0] == "opened" and shown["inventory"][1] >= 1


@pytest.mark.timeout(90)
async def test_admin_dashboard_shows_an_open_circuit_and_its_return(shop, pg):
    client, config = shop
    _, _, admin = await user(client, admin=True)
    english, spanish = AdminPage(client, admin), AdminPage(client, admin, ES)
    status, shown, closed = await english()
    assert status == 200 and closed and not shown, (status, shown)  # all closed: one line, no table
    assert "circuit is closed: all calls go through" in english.page and 'id="circuits-alert"' not in english.page

    async with database_unreachable(pg.url(), f"{config.database.name_prefix}_inventory"):
        # each load checks inventory's outbox: an outage for its breaker, then (open) a refusal
        _, shown, _ = await wait_until(english, inventory_open,
                                       "the inventory circuit open, with refusals, on the admin dashboard", 20)
        page = english.page
        assert {name for name, (state, _) in shown.items() if state != "closed"} == {"inventory"}, shown
        assert {"users", "products", "orders", "payments"} <= set(shown), shown  # every plugin database listed
        assert list(shown)[0] == "inventory"  # the worst first
        row = re.search(r'<tr data-circuit="inventory".*?</tr>', page, re.S).group(0)
        assert "text-bg-danger" in row and "Circuit open: calls refused" in row and "<svg" in row  # words + icon
        alert = re.search(r'id="circuits-alert".*?</div>\s*</div>', page, re.S).group(0)
        assert "<strong>inventory</strong>" in alert and 'href="#circuits"' in alert
        refused_seen = shown["inventory"][1]
        await wait_until(spanish, inventory_open, "the open circuit on the Spanish admin dashboard", 15)
        assert "Circuito abierto: llamadas rechazadas" in spanish.page and "Cortacircuitos" in spanish.page

    # back: the next trial (or background work) gets an answer and closes it; the panel is one line again
    await wait_until(english, lambda seen: seen[0] == 200 and seen[2], "every circuit closed again on the admin dashboard",
                     30)
    assert not circuits(english.page) and 'id="circuits-alert"' not in english.page
    total = int(re.search(r'id="circuits-closed" data-refused="(\d+)"', english.page).group(1))
    assert total >= refused_seen  # the refusals stay counted


# a worker of `run.py --instances N` as far as the metrics go: its breakers' gauge and counter, written to the
# shared multiprocess folder (prometheus-client picks multiprocess mode at import: hence a process of its own)
WORKER = """
import os, sys
from ecom.metrics import CIRCUIT_REFUSED, CIRCUIT_STATE
CIRCUIT_STATE.labels("inventory").set(int(sys.argv[1]))
CIRCUIT_STATE.labels("orders").set(0)
CIRCUIT_REFUSED.labels("inventory").inc(int(sys.argv[2]))
print(os.getpid())
"""


def test_the_worst_state_of_the_live_workers_wins(tmp_path, monkeypatch):
    """Several workers share the metrics folder: the dashboard shows a circuit open when any live worker has
    it open (the worker serving the page has it closed), with every worker's refusals added up; once that
    worker is gone (the supervisor marks it dead) its state no longer counts, its refusals still do."""
    env = {**os.environ, MULTIPROC_ENV: str(tmp_path), "PYTHONPATH": str(ROOT)}

    def worker(state: int, refused: int) -> int:
        done = subprocess.run([sys.executable, "-c", WORKER, str(state), str(refused)], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return int(done.stdout)

    opened_on, _ = worker(2, 3), worker(0, 4)
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    here = {"inventory": "closed", "orders": "closed"}  # the breakers of the worker showing the page
    assert [(c.name, c.state, c.refused) for c in shop_circuits(here, read_metrics())] == [
        ("inventory", "opened", 7), ("orders", "closed", 0)]
    assert shop_circuits({"inventory": "half-opened"}, read_metrics())[0].state == "opened"  # worst of all
    worker_exited(opened_on, str(tmp_path))
    assert [(c.name, c.state, c.refused) for c in shop_circuits(here, read_metrics())] == [
        ("inventory", "closed", 7), ("orders", "closed", 0)]
    assert shop_circuits({"inventory": "half-opened"}, read_metrics())[0].state == "half-opened"  # ours counts
