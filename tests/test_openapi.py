"""GET /api/v1/openapi.json with every plugin: each operation is documented, and the document is valid OpenAPI."""
from __future__ import annotations

import pytest

from ecom.app import create_app

WRITES = ("post", "put", "patch")
# Writes that take no JSON object, so they declare no request schema: no body at all, or a file upload
# (a CSV, an image) that their description explains. Any other write must declare its fields.
NO_JSON_BODY = {
    ("post", "/api/v1/orders/{id}/cancel"),
    ("post", "/api/v1/inventory/reservations/{order_ref}/commit"),
    ("post", "/api/v1/inventory/imports"),
    ("put", "/api/v1/products/{id}/image"),
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
                                 ("get", "/api/v1/products/{id}", "200"), ("post", "/api/v1/users", "201"),
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
    validator = pytest.importorskip("openapi_spec_validator", reason="pip install -e '.[dev]'")
    doc = await openapi_document(aiohttp_client, make_config)
    validator.validate(doc)  # OpenAPI 3.1, with every schema checked against the JSON Schema dialect
