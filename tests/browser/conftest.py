"""Browser tests: Playwright drives Debian's chromium against the real stack, `run.py --instances 2`
behind nginx, seeded with a demo catalog. Screenshots land in test-artifacts/screenshots/."""
from __future__ import annotations

import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import async_playwright

from tests.helpers import ROOT, write_config

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
ADMIN = ("admin@demo.shop", "admin-password-1")
SELLER = ("seller1@demo.shop", "demo-password")
PLUGINS = ("users", "addresses", "products", "inventory", "payments", "shipping", "taxes", "vouchers", "orders",
           "dashboards", "invoices", "notifications")


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The shop as an operator runs it: supervisor, 2 workers, nginx; payments take 1 s."""
    tmp = tmp_path_factory.mktemp("browser-stack")
    # every browser comes from 127.0.0.1: the suite logs in more than 20 times a minute (no app rate limits)
    config = write_config(tmp, PLUGINS, ports=3, rate_limits=False, extra="""
[nginx]
general_rate = "1000r/s"
general_burst = 1000
auth_rate = "600r/m"
auth_burst = 100
[plugins.payments]
delay_seconds = 1.0
""")
    run = [sys.executable, str(ROOT / "run.py")]
    subprocess.run([*run, "seed", "--products", "120", "--config", str(config)], cwd=ROOT, check=True,
                   capture_output=True)
    subprocess.run([*run, "create-admin", ADMIN[0], "--password-stdin", "--config", str(config)], cwd=ROOT,
                   check=True, capture_output=True, input=ADMIN[1] + "\n", text=True)
    log = open(tmp / "stack.log", "w")
    proc = subprocess.Popen([*run, "--instances", "2", "--config", str(config)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=log, text=True)
    line = proc.stdout.readline()
    assert "ready at" in line, (line, (tmp / "stack.log").read_text()[-3000:])
    port = int(tomllib.loads(config.read_text())["server"]["port"])
    yield {"url": f"http://127.0.0.1:{port}", "config": config, "log": tmp / "stack.log"}
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)


@pytest.fixture(scope="session")
async def browser():
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


class Page:
    """A tab that records console errors and can take screenshots and accessibility checks."""

    def __init__(self, page, base_url: str):
        self.page, self.base_url = page, base_url
        self.console_errors: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda err: self.console_errors.append(str(err)))
        page.on("response", self._on_response)

    def _on_console(self, msg) -> None:
        # a failed load is also reported by _on_response with its URL; the page itself may be a 404 on purpose
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            self.console_errors.append(msg.text)

    def _on_response(self, response) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            self.console_errors.append(f"{response.status} {response.url}")

    async def goto(self, path: str):
        response = await self.page.goto(self.base_url + path)
        return response

    async def shot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path

    async def check(self, name: str) -> None:
        """Screenshot, then: no console error, no serious or critical accessibility violation."""
        await self.shot(name)
        assert not self.console_errors, (name, self.console_errors)
        result = await Axe().run(self.page)
        serious = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
                   for v in result.response["violations"] if v["impact"] in ("serious", "critical")]
        assert not serious, (name, serious)

    async def log_in(self, email: str, password: str) -> None:
        await self.goto("/login")
        await self.page.get_by_label("Email").fill(email)
        await self.page.get_by_label("Password").fill(password)
        await self.page.get_by_role("button", name="Log in").click()
        await self.page.wait_for_load_state()


@pytest.fixture
async def tab(browser, stack):
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = Page(await context.new_page(), stack["url"])
    yield page
    await context.close()
