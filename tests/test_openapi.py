"""GET /api/v1/openapi.json with every plugin: each operation is documented, and the document is valid OpenAPI.

Also: every query parameter a handler reads is documented (an AST scan of the handler and the helpers it
calls), and the gateway's 405/415 answers are the documented problems.
"""
from __future__ import annotations

import ast
import inspect
import textwrap
import types

import pytest

from ecom.app import create_app
from ecom.openapi import api_routes, build

WRITES = ("post", "put", "patch")
# Writes that take no JSON object, so they declare no request schema: no body at all, or a file upload
# (a CSV, an image) that their description explains. Any other write must declare its fields.
NO_JSON_BODY = {
    ("post", "/api/v1/orders/{id}/cancel"),
    ("post", "/api/v1/inventory/reservations/{order_ref}/commit"),
    ("post", "/api/v1/inventory/imports"),
    ("post", "/api/v1/products/import"),  # a CSV body
    ("put", "/api/v1/products/{id}/image"),
    ("post", "/api/v1/webhooks/{id}/enable"),
    ("post", "/api/v1/webhooks/deliveries/{id}/redeliver"),
}


async def openapi_document(aiohttp_client, make_config) -> dict:
    client = await aiohttp_client(create_app(make_config()))
    resp = await client.get("/api/v1/openapi.json")
    assert resp.status == 200
    return await resp.json()


def operations(doc: dict):
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            yield method, path, op


async def test_every_operation_has_a_real_summary(aiohttp_client, make_config):
    doc = await openapi_document(aiohttp_client, make_config)
    ops = list(operations(doc))
    assert {op["tags"][0] for _, _, op in ops} >= {"users", "products", "inventory", "payments", "orders"}
    bad = []
    for method, path, op in ops:
        summary = op["summary"]
        if (summary == f"{method.upper()} {path}" or not summary[0].isupper() or not summary.endswith(".")
                or len(summary.split()) < 3 or "``" in summary):
            bad.append(f"{method.upper()} {path}: {summary!r}")
    assert not bad, "operations without a one-line sentence as their summary:\n" + "\n".join(bad)


async def test_every_write_declares_its_request_body(aiohttp_client, make_config):
    doc = await openapi_document(aiohttp_client, make_config)
    writes = {(method, path): op for method, path, op in operations(doc) if method in WRITES}
    assert NO_JSON_BODY <= set(writes), "an exempt operation is gone: update NO_JSON_BODY"
    missing = []
    for (method, path), op in writes.items():
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        if (method, path) in NO_JSON_BODY:
            assert op["requestBody"]["required"] is False and "properties" not in schema, (method, path)
            continue
        if not schema.get("properties"):
            missing.append(f"{method.upper()} {path}")
            continue
        assert set(schema.get("required", ())) <= set(schema["properties"]), (method, path)
    assert not missing, "writes without a request schema (@api_schema(request=...)):\n" + "\n".join(missing)


async def test_main_reads_and_creates_declare_their_response(aiohttp_client, make_config):
    doc = await openapi_document(aiohttp_client, make_config)
    paths = doc["paths"]
    for method, path, status in [("get", "/api/v1/products", "200"), ("post", "/api/v1/products", "201"),
                                 ("get", "/api/v1/products/{id}", "200"), ("post", "/api/v1/users", "202"),
                                 ("post", "/api/v1/auth/token", "200"), ("get", "/api/v1/users/me", "200"),
                                 ("post", "/api/v1/inventory/imports", "202"),
                                 ("post", "/api/v1/inventory/reservations", "201"),
                                 ("get", "/api/v1/inventory/{product_id}", "200"),
                                 ("get", "/api/v1/payments", "200")]:
        response = paths[path][method]["responses"][status]
        assert response["content"]["application/json"]["schema"], (method, path)
    product = paths["/api/v1/products"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(product["required"]) == {"name", "price_cents", "currency", "type", "sku"}
    price = product["properties"]["price_cents"]
    assert (price["type"], price["minimum"], price["maximum"]) == ("integer", 0, 10**10)
    assert product["additionalProperties"] is False  # unknown fields are a 422


async def test_document_is_valid_openapi(aiohttp_client, make_config):
    import openapi_spec_validator as validator  # a dev dependency (make test installs it)
    doc = await openapi_document(aiohttp_client, make_config)
    validator.validate(doc)  # OpenAPI 3.1, with every schema checked against the JSON Schema dialect


# --- every query parameter a handler reads is documented ------------------------------------------------

READERS = ("get", "getone", "getall", "get_all")


def _is_query(node: ast.AST, aliases: set[str]) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "query") or (
        isinstance(node, ast.Name) and node.id in aliases)


def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _callee(func: types.FunctionType, node: ast.Call):
    """The plugin or core function a call names (a global, or an attribute of a module global)."""
    target = None
    if isinstance(node.func, ast.Name):
        target = func.__globals__.get(node.func.id)
    elif isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
        owner = func.__globals__.get(node.func.value.id)
        target = getattr(owner, node.func.attr, None) if isinstance(owner, types.ModuleType) else None
    target = inspect.unwrap(target) if callable(target) else None
    module = getattr(target, "__module__", "") or ""
    if isinstance(target, types.FunctionType) and module.startswith(("plugins.", "ecom.")):
        return target
    return None


def query_reads(func, seen: set | None = None) -> tuple[set[str], list[str]]:
    """(query parameter names ``func`` reads, places where it reads one whose name no scan can know).

    Follows calls to plain functions of plugins/ and ecom/; a function whose name says ``query``
    (``query_int(request, "limit", ...)``, ``text_query(request, "status")``) reads its literal argument."""
    func = inspect.unwrap(func)
    seen = set() if seen is None else seen
    if func in seen:
        return set(), []
    seen.add(func)
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    aliases = {t.id for n in ast.walk(tree) if isinstance(n, ast.Assign) and _is_query(n.value, set())
               for t in n.targets if isinstance(t, ast.Name)}
    names, dynamic, handled = set(), [], set()
    where = f"{func.__module__}.{func.__qualname__} line"
    first = func.__code__.co_firstlineno - 1

    def read(name: str | None, node: ast.AST, *uses: ast.AST) -> None:
        handled.update(id(u) for u in uses)
        if name is None:
            dynamic.append(f"{where} {first + node.lineno}")
        else:
            names.add(name)

    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and _is_query(node.value, set()):
            handled.add(id(node.value))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in READERS \
                and _is_query(node.func.value, aliases):
            read(_literal(node.args[0]) if node.args else None, node, node.func.value)
        elif isinstance(node, ast.Subscript) and _is_query(node.value, aliases):
            read(_literal(node.slice), node, node.value)
        elif isinstance(node, ast.Compare) and any(_is_query(c, aliases) for c in node.comparators):
            read(_literal(node.left), node, *node.comparators)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and "query" in node.func.id \
                and len(node.args) > 1:  # query_int(request, "limit", ...)
            read(_literal(node.args[1]), node)
        elif isinstance(node, ast.Call) and (callee := _callee(func, node)) is not None:
            more, unknown = query_reads(callee, seen)
            names |= more
            dynamic += unknown
    dynamic += [f"{where} {first + n.lineno}" for n in ast.walk(tree)
                if _is_query(n, aliases) and id(n) not in handled and not isinstance(n.ctx, ast.Store)]
    return names, dynamic


async def test_every_query_parameter_a_handler_reads_is_documented(make_config):
    app = create_app(make_config())
    doc, problems, scanned = build(app), [], {}
    for method, path, handler, _ in api_routes(app):
        reads, dynamic = query_reads(handler)
        documented = {p["name"] for p in doc["paths"][path][method]["parameters"] if p["in"] == "query"}
        scanned[(method, path)] = reads
        problems += [f"{method.upper()} {path}: reads ?{name} but does not document it" for name in reads - documented]
        problems += [f"{method.upper()} {path}: documents ?{name} but never reads it" for name in documented - reads]
        problems += [f"{method.upper()} {path}: reads a query parameter whose name is computed at {where}"
                     for where in dynamic]
    assert not problems, "declare them with @api_schema(query=...):\n" + "\n".join(problems)
    # the scan itself sees reads through aliases and helpers (so an empty scan cannot pass by accident)
    assert {"q", "sort", "cursor", "limit"} <= scanned[("get", "/api/v1/products")]
    assert {"order_id", "status", "limit", "offset"} <= scanned[("get", "/api/v1/payments")]


def test_the_scan_sees_every_way_of_reading_the_query():
    def text_query(request, name):
        return request.query.get(name)

    def handler(request):
        query = request.query
        return (query.get("a"), request.query["b"], "c" in request.query, text_query(request, "d"),
                request.rel_url.query.getall("e"), request.query.get(str(1)))

    names, dynamic = query_reads(handler)
    assert names == {"a", "b", "c", "d", "e"}
    assert len(dynamic) == 1 and "handler line" in dynamic[0]


# --- the gateway's own answers are the documented problems -------------------------------------------

async def test_wrong_method_is_405_with_allow_and_wrong_content_type_is_415(client):
    doc = await (await client.get("/api/v1/openapi.json")).json()
    resp = await client.put("/api/v1/products")  # GET and POST only
    assert resp.status == 405
    assert set(resp.headers["Allow"].split(",")) >= {"GET", "POST"}
    assert resp.content_type == "application/problem+json" and (await resp.json())["status"] == 405
    resp = await client.post("/api/v1/products", data="name=x", headers={"Content-Type": "text/plain"})
    assert resp.status == 415 and resp.content_type == "application/problem+json"
    assert "415" in doc["paths"]["/api/v1/products"]["post"]["responses"]
    assert "415" not in doc["paths"]["/api/v1/products"]["get"]["responses"]  # nothing to send


async def test_documented_errors_follow_what_the_code_can_answer(aiohttp_client, make_config):
    doc = await openapi_document(aiohttp_client, make_config)
    for method, path, op in operations(doc):
        codes = set(op["responses"])
        assert {"401", "429", "503"} <= codes, (method, path)
        assert op["responses"]["401"]["headers"]["WWW-Authenticate"]["required"] is True
        if method in ("post", "put", "patch", "delete"):
            assert {"409", "413", "415", "422"} <= codes, (method, path)
        if "{" in path:
            assert "404" in codes, (method, path)
    roles = doc["paths"]["/api/v1/products"]["post"]
    assert roles["security"] == [{"bearer": []}] and roles["x-roles"] == ["seller"] and "403" in roles["responses"]
    guests = doc["paths"]["/api/v1/products"]["get"]
    assert "security" not in guests and "403" not in guests["responses"]
    assert doc["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status", "detail"]
