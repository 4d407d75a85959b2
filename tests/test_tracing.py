"""Tracing (issue 13): one checkout paid through the real broker is ONE trace, from the HTTP request
through SQL, the outbox publish, MQTT, the payments handler, the payment's processing, the result's
publish to the orders handler, exported to a JSON-lines file and drawn by ``run.py trace``. Off, nothing
is installed. The trace context rides inside the signed envelope."""
from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
from datetime import datetime, timezone

import asyncpg
import pytest

from ecom import logs, tracing
from ecom.app import POOLS
from ecom.cli import main as cli_main
from ecom.events import Envelope
from ecom.events.signing import BAD_SIGNATURE, Signer, Untrusted
from tests.conftest import ROOT, TEST_SECRET_KEY
from tests.helpers import start, wait_until
from tests.plugins.test_orders import bearer, checkout, orders_config, product, user, wait_status, EU

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def read(path) -> list[dict]:
    try:
        return [json.loads(line) for line in path.read_text().splitlines()]
    except FileNotFoundError:
        return []


def ancestors(span: dict, by_id: dict[str, dict]) -> list[dict]:
    chain = []
    while span.get("parent_id") in by_id:
        span = by_id[span["parent_id"]]
        chain.append(span)
    return chain


async def test_one_checkout_is_one_trace_across_both_plugins_and_mqtt(aiohttp_client, make_config, tmp_path, capsys):
    spans_file = tmp_path / "traces.jsonl"
    client = await start(aiohttp_client, orders_config(make_config, tracing={"enabled": True,
                                                                              "file": str(spans_file)}))
    assert tracing.on
    _, seller = await user(client, seller=True)
    mug = await product(client, seller, stock={EU: 5})
    _, token = await user(client)
    resp = await checkout(client, token, [(mug, 1)])
    assert resp.status == 201, await resp.text()
    order_id = (await resp.json())["id"]
    await wait_status(client, token, order_id, "paid")

    def the_trace(spans: list[dict]) -> list[dict]:
        ids = {s["trace_id"] for s in spans if s["attributes"].get("ecom.order_id") == order_id}
        return [s for s in spans if s["trace_id"] in ids]

    def handlers(trace: list[dict], topic: str, plugin: str) -> list[dict]:
        return [s for s in trace if s["name"] == f"handle {topic}" and s["attributes"]["ecom.consumer"]
                .startswith(f"{plugin}:") and s["attributes"].get("ecom.outcome") == "applied"]

    def complete(trace: list[dict]) -> bool:
        return bool(handlers(trace, "ecom/payments/completed", "orders"))

    async def probe():
        return the_trace(read(spans_file))
    trace = await wait_until(probe, complete, "the orders handler's span in the file")

    assert len({s["trace_id"] for s in trace}) == 1, "one checkout, one trace"
    by_id = {s["span_id"]: s for s in trace}
    http = [s for s in trace if s["kind"] == "SERVER"]
    assert [s["name"] for s in http] == ["POST /api/v1/orders"] and http[0]["parent_id"] is None
    assert http[0]["attributes"]["ecom.order_id"] == order_id
    # SQL of the request, under the HTTP span
    assert any(s["kind"] == "CLIENT" and http[0] in ancestors(s, by_id) for s in trace)
    payments = handlers(trace, "ecom/payments/requested", "payments")
    orders = handlers(trace, "ecom/payments/completed", "orders")
    assert len(payments) == 1 and len(orders) == 1, [s["name"] for s in trace]
    # parent/child linked across MQTT: each handler is a CONSUMER under a PRODUCER publish span
    for handler, topic in ((payments[0], "ecom/payments/requested"), (orders[0], "ecom/payments/completed")):
        assert handler["kind"] == "CONSUMER"
        assert by_id[handler["parent_id"]]["name"] == f"publish {topic}"
        assert by_id[handler["parent_id"]]["kind"] == "PRODUCER"
    chain = [s["name"] for s in ancestors(orders[0], by_id)]
    assert chain == ["publish ecom/payments/completed", "payments: process payment", "handle ecom/payments/requested",
                     "publish ecom/payments/requested", "POST /api/v1/orders"], chain
    # the payments handler's own SQL is under it
    assert any(s["kind"] == "CLIENT" and payments[0] in ancestors(s, by_id) for s in trace)

    # every log line carries trace and span ids while tracing is on (and the request id, as before)
    with tracing.continued(f"00-{http[0]['trace_id']}-{http[0]['span_id']}-01", "a log line"):
        line = json.loads(logs.JsonFormatter().format(logging.LogRecord("t", logging.INFO, __file__, 1, "hi", (), None)))
    assert line["trace_id"] == http[0]["trace_id"] and len(line["span_id"]) == 16 and "request_id" in line

    # run.py trace ORDER_ID draws it: indentation follows the parents, a bar per span
    assert cli_main(["trace", order_id, "--file", str(spans_file)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"trace {http[0]['trace_id']}: ")  # more spans may have come since
    assert all(line.count("|") == 2 and "█" in line.split("|")[1] for line in out[2:]), out  # a bar per span
    names = [line.split("|")[2][1:] for line in out[2:]]  # indented two spaces per level
    assert names[0] == "POST /api/v1/orders", out
    assert any(n.startswith(" " * 10 + "handle ecom/payments/completed [orders:") and n.endswith("(applied)")
               for n in names), out  # five levels below the request
    assert cli_main(["trace", "ord_nosuchorder", "--file", str(spans_file)]) == 1


async def test_off_by_default_nothing_is_installed_and_envelopes_carry_no_context(aiohttp_client, make_config):
    client = await start(aiohttp_client, orders_config(make_config))
    assert not tracing.on and logs.trace_ids is None
    assert not hasattr(asyncpg.connection.Connection.fetch, "__wrapped__"), "asyncpg is not wrapped"
    assert not any("opentelemetry" in getattr(m, "__module__", "") for m in client.app.middlewares)
    _, seller = await user(client, seller=True)
    mug = await product(client, seller, stock={EU: 5})
    _, token = await user(client)
    resp = await checkout(client, token, [(mug, 1)])
    assert resp.status == 201, await resp.text()
    order_id = (await resp.json())["id"]
    await wait_status(client, token, order_id, "paid")
    rows = await client.app[POOLS]["orders"].fetch("SELECT payload FROM outbox")
    assert rows and not any("traceparent" in r["payload"] for r in rows)
    # not even imported by the code every worker loads (the tests' own process may have imported it)
    code = ("import sys, ecom.app, ecom.cli, ecom.server, plugins.payments, plugins.orders; "
            "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert found.returncode == 0 and found.stdout.strip() == "[]", (found.stdout, found.stderr)


def test_the_trace_context_is_signed_and_optional():
    signer = Signer(hashlib.sha256(TEST_SECRET_KEY.encode()).digest())
    now = datetime.now(timezone.utc)
    fields = {"id": "6f1c1b1e-8a44-4a39-9d52-4f5a2b8f0c11", "type": "ecom/payments/requested", "version": 1,
              "occurred_at": now.isoformat(), "data": {"order_id": "ord_x"}}
    old = signer.sign("orders", json.dumps(fields))  # an envelope from before tracing: still accepted
    assert Envelope.from_fields(signer.verify(old, "orders")).traceparent is None
    wire = signer.sign("orders", json.dumps({**fields, "traceparent": TRACEPARENT}))
    assert Envelope.from_fields(signer.verify(wire, "orders")).traceparent == TRACEPARENT
    forged = json.loads(wire)
    forged["traceparent"] = TRACEPARENT.replace("b7ad", "dead")  # the context is under the signature
    with pytest.raises(Untrusted) as err:
        signer.verify(json.dumps(forged), "orders")
    assert err.value.reason == BAD_SIGNATURE
    assert Envelope.from_fields({**fields, "traceparent": "x" * 500}).traceparent is None  # absurd: ignored
    assert "traceparent" not in Envelope.from_fields(fields).to_json()


async def test_otlp_export_reaches_a_collector(aiohttp_client, aiohttp_server, make_config):
    """exporter = "otlp": spans leave over OTLP/HTTP (protobuf) to the configured endpoint."""
    import gzip
    from aiohttp import web
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    received: list[str] = []

    async def collect(request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        message = ExportTraceServiceRequest.FromString(body)
        received.extend(span.name for rs in message.resource_spans for ss in rs.scope_spans for span in ss.spans)
        return web.Response(body=b"", content_type="application/x-protobuf")

    collector = web.Application()
    collector.router.add_post("/v1/traces", collect)
    server = await aiohttp_server(collector)
    client = await start(aiohttp_client, make_config(tracing={
        "enabled": True, "exporter": "otlp", "endpoint": f"http://127.0.0.1:{server.port}/v1/traces"}))
    assert (await client.get("/api/v1/products")).status == 200

    async def names():
        return list(received)
    await wait_until(names, lambda n: "GET /api/v1/products" in n, "the request's span at the collector")


class Lines(logging.Handler):
    """The JSON lines a logger writes, as the shop's formatter makes them."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logs.JsonFormatter())
        self.entries: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.entries.append(json.loads(self.format(record)))


async def served_with_access_log(aiohttp_client, config):
    """The app behind the runner settings ecom/server.py uses for its access lines (ecom.logs.AccessLog)."""
    from aiohttp.test_utils import TestServer
    from ecom.app import EVENT_BUS, create_app
    server = TestServer(create_app(config))
    await server.start_server(access_log=logging.getLogger("ecom.access"), access_log_class=logs.AccessLog)
    client = await aiohttp_client(server)
    assert client.app[EVENT_BUS].connected
    return client


async def test_admin_trace_page_draws_the_checkout_and_access_lines_carry_its_ids(aiohttp_client, make_config,
                                                                                   tmp_path):
    """Tracing on with the file exporter: the order's page links its trace for an admin; /admin/traces?order=
    draws the same trace as ``run.py trace`` (one bar per span with its text, one table row per span, the
    request at the top), /admin/traces/{trace_id} too; customers are refused. The checkout's access line
    has the trace and span ids of its SERVER span in the file, the request id of its response header, and
    its fields (method, route pattern, status, duration, bytes, worker)."""
    spans_file = tmp_path / "traces.jsonl"
    access, logger = Lines(), logging.getLogger("ecom.access")
    logger.addHandler(access)
    level, logger.level = logger.level, logging.INFO
    try:
        client = await served_with_access_log(aiohttp_client, orders_config(
            make_config, tracing={"enabled": True, "file": str(spans_file)}, server={"name": "worker-7"}))
        _, seller = await user(client, seller=True)
        mug = await product(client, seller, stock={EU: 5})
        _, token = await user(client)
        _, admin = await user(client, admin=True)
        resp = await checkout(client, token, [(mug, 1)])
        assert resp.status == 201, await resp.text()
        order_id, request_id = (await resp.json())["id"], resp.headers["X-Request-Id"]
        await wait_status(client, token, order_id, "paid")

        async def the_trace():
            spans = read(spans_file)
            ids = {s["trace_id"] for s in spans if s["attributes"].get("ecom.order_id") == order_id}
            return [s for s in spans if s["trace_id"] in ids]
        trace = await wait_until(the_trace, lambda t: any(s["name"] == "handle ecom/payments/completed" for s in t),
                                 "the orders handler's span in the file")
        http = next(s for s in trace if s["kind"] == "SERVER")

        line = next(e for e in access.entries if e.get("request_id") == request_id)
        assert (line["trace_id"], line["span_id"]) == (http["trace_id"], http["span_id"]), line
        assert (line["method"], line["route"], line["status"], line["worker"]) == ("POST", "/api/v1/orders", 201,
                                                                                   "worker-7"), line
        assert line["bytes"] > 0 and line["duration_ms"] > 0 and "POST /api/v1/orders" in line["msg"], line
        untraced = next(e for e in access.entries if e.get("route") == "/api/v1/users/me")
        assert untraced["trace_id"] != http["trace_id"] and len(untraced["trace_id"]) == 32  # its own trace
    finally:
        logger.removeHandler(access)
        logger.level = level

    order_page = await (await client.get(f"/orders/{order_id}", headers=bearer(admin))).text()
    assert f'href="/admin/traces?order={order_id}"' in order_page
    assert "/admin/traces" not in await (await client.get(f"/orders/{order_id}", headers=bearer(token))).text()

    resp = await client.get(f"/admin/traces?order={order_id}", headers=bearer(admin))
    assert resp.status == 200, await resp.text()
    html = await resp.text()
    section = html[html.index(f'data-trace-id="{http["trace_id"]}"'):]
    svg, table = section[:section.index("</svg>")], section[section.index("<tbody>"):section.index("</tbody>")]
    drawn = table.count("<tr ")
    assert drawn >= len(trace) and svg.count("<rect ") == drawn and svg.count("<title") == drawn + 1, (drawn, len(trace))
    assert 'role="img"' in svg and "POST /api/v1/orders (" in svg  # a bar's text: name (process): start, duration
    assert 'data-depth="0"' in table and "handle ecom/payments/completed [orders:" in table
    resp = await client.get(f"/admin/traces/{http['trace_id']}", headers={**bearer(admin), "Accept-Language": "es"})
    assert resp.status == 200 and "Cascada de la traza" in await resp.text()
    resp = await client.get("/admin/traces?order=ord_nosuchorder", headers=bearer(admin))
    assert resp.status == 404 and 'id="no-trace"' in await resp.text()
    assert (await client.get(f"/admin/traces?order={order_id}", headers=bearer(token))).status == 403


async def test_trace_page_says_how_to_turn_tracing_on(client):
    """Tracing off: the page answers (no 404, no 500) with how to turn it on, in both languages; the order
    page has no trace link."""
    from tests.helpers import account
    _, _, admin = await account(client, admin=True)
    resp = await client.get("/admin/traces?order=ord_x", headers=bearer(admin))
    html = await resp.text()
    assert resp.status == 200 and 'id="tracing-off"' in html and 'exporter = &#34;file&#34;' in html, html[-2000:]
    resp = await client.get("/admin/traces", headers={**bearer(admin), "Accept-Language": "es"})
    assert resp.status == 200 and "El trazado está desactivado" in await resp.text()
    resp = await client.get("/admin/traces", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/login"), resp.status  # login needed
