"""System health seen from any worker, and the SVG charts the dashboards draw."""
import asyncio
import time

from ecom.app import create_app
from ecom.charts import bar_chart, line_chart
from ecom.health import HEALTH


def test_line_chart_is_accessible_svg_without_inline_styles():
    svg = str(line_chart("Revenue per day", ["11-01", "11-02", "11-03"], {"Revenue": [1200, 0, 3400]},
                         value_format=lambda v: f"${v / 100:,.2f}"))
    assert svg.startswith("<svg") and 'role="img"' in svg and "<title>Revenue per day</title>" in svg
    assert "11-03 $34.00" in svg  # the numbers are readable without seeing the picture
    assert "style=" not in svg and "<script" not in svg  # our CSP allows neither
    assert svg.count("<circle") == 3


def test_stacked_bar_chart_scales_to_the_tallest_stack():
    svg = str(bar_chart("Orders by status", ["a", "b"], {"paid": [3, 1], "failed": [1, 0]}))
    assert svg.count("<rect x=") == 4 + 2  # 4 bars + 2 legend swatches
    assert "paid: a 3, b 1; failed: a 1, b 0" in svg
    assert "<b>" not in str(bar_chart("<b>", [], {}))


async def test_every_worker_sees_every_worker_and_the_outbox_backlog(aiohttp_client, make_config):
    base = make_config(fresh=True)
    one = await aiohttp_client(create_app(make_config(server={"name": "w-one"}, database=dict(
        url=base.database.url, name_prefix=base.database.name_prefix))))
    two = await aiohttp_client(create_app(make_config(server={"name": "w-two"}, database=dict(
        url=base.database.url, name_prefix=base.database.name_prefix))))
    def seen_by(client):
        return {w.name for w in client.app[HEALTH].workers() if w.alive}
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not seen_by(one) == seen_by(two) == {"w-one", "w-two"}:
        await asyncio.sleep(0.1)
    assert seen_by(one) == seen_by(two) == {"w-one", "w-two"}
    snapshot = await two.app[HEALTH].snapshot()
    assert snapshot["broker"]["connected"] is True
    assert snapshot["databases"]["users"]["ok"] and snapshot["databases"]["users"]["outbox_backlog"] == 0
    assert {w["name"] for w in snapshot["workers"]} == {"w-one", "w-two"}
