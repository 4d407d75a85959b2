"""The gateway: request ids, problem+json and error pages, security headers, CSRF, CORS, body limits, rate limits."""
import pytest

from ecom.app import create_app
from ecom.gateway.headers import SECURITY_HEADERS


@pytest.fixture
async def gw(aiohttp_client, make_config):
    config = make_config(plugins={"enabled": ["gwtest"], "paths": ["tests/loaderplugins"]},
                         server={"max_body_bytes": 4096},
                         security={"cors_origins": ["https://app.example.com"], "auth_rate_limit_per_minute": 4})
    return await aiohttp_client(create_app(config))


def assert_secure(resp):
    for name in SECURITY_HEADERS:
        assert name in resp.headers, f"{name} missing on {resp.url} ({resp.status})"
    assert len(resp.headers["X-Request-Id"]) >= 8


@pytest.mark.parametrize("path, status", [("/healthz", 200), ("/nope", 404), ("/gw/boom", 500),
                                          ("/static/vendor/bootstrap/css/bootstrap.min.css", 200),
                                          ("/api/v1/gw/invalid", 422)])
async def test_security_headers_and_request_id_on_every_response(gw, path, status):
    resp = await gw.get(path, allow_redirects=False)
    assert resp.status == status
    assert_secure(resp)


async def test_redirects_carry_headers_too(gw):
    resp = await gw.get("/gw/redirect", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/gw/form"
    assert_secure(resp)


async def test_request_id_from_trusted_proxy_is_kept(aiohttp_client, make_config):
    config = make_config(plugins={"enabled": ["gwtest"], "paths": ["tests/loaderplugins"]},
                         server={"trusted_proxies": ["127.0.0.1", "::1"]})
    gw = await aiohttp_client(create_app(config))
    resp = await gw.get("/healthz", headers={"X-Request-Id": "abcdef123456"})
    assert resp.headers["X-Request-Id"] == "abcdef123456"
    resp = await gw.get("/healthz", headers={"X-Request-Id": "bad id with spaces"})
    assert resp.headers["X-Request-Id"] != "bad id with spaces"


async def test_api_errors_are_problem_json(gw):
    resp = await gw.get("/api/v1/nothing-here")
    assert resp.status == 404 and resp.content_type == "application/problem+json"
    body = await resp.json()
    assert body["status"] == 404 and body["title"] == "Not found" and body["request_id"]
    resp = await gw.get("/api/v1/gw/invalid")
    body = await resp.json()
    assert resp.status == 422 and body["errors"] == {"name": "is required"} and body["detail"] == "Check the fields."
    resp = await gw.put("/api/v1/gw/echo", json={})
    assert resp.status == 405 and (await resp.json())["status"] == 405 and "Allow" in resp.headers


async def test_a_500_hides_internals_and_quotes_the_request_id(gw):
    resp = await gw.get("/api/v1/gw/boom")
    body = await resp.json()
    assert resp.status == 500 and "4242" not in await resp.text() and body["request_id"] in body["detail"]
    resp = await gw.get("/gw/boom")
    text = await resp.text()
    assert resp.status == 500 and resp.content_type == "text/html" and "4242" not in text
    assert resp.headers["X-Request-Id"] in text


async def test_pages_get_a_readable_error_page(gw):
    resp = await gw.get("/no/such/page")
    assert resp.status == 404 and resp.content_type == "text/html"
    assert "Not found" in await resp.text()


async def test_csrf_protects_forms(gw):
    resp = await gw.post("/gw/form", data={"thing": "x"})
    assert resp.status == 403 and "CSRF" in await resp.text()
    token = await (await gw.get("/gw/form")).text()
    resp = await gw.post("/gw/form", data={"thing": "x", "csrf_token": "wrong"})
    assert resp.status == 403
    resp = await gw.post("/gw/form", data={"thing": "x", "csrf_token": token})
    assert resp.status == 200 and await resp.text() == "got x"
    resp = await gw.post("/gw/form", data={"thing": "y"}, headers={"X-CSRF-Token": token})
    assert resp.status == 200


async def test_json_api_needs_no_csrf_token(gw):
    resp = await gw.post("/api/v1/gw/echo", json={"a": 1})
    assert resp.status == 200 and await resp.json() == {"a": 1}


async def test_cors_allow_list(gw):
    pre = await gw.options("/api/v1/gw/echo", headers={"Origin": "https://app.example.com",
                                                       "Access-Control-Request-Method": "POST"})
    assert pre.status == 204 and pre.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "Authorization" in pre.headers["Access-Control-Allow-Headers"]
    bad = await gw.options("/api/v1/gw/echo", headers={"Origin": "https://evil.example",
                                                       "Access-Control-Request-Method": "POST"})
    assert bad.status == 403 and "Access-Control-Allow-Origin" not in bad.headers
    ok = await gw.post("/api/v1/gw/echo", json={}, headers={"Origin": "https://app.example.com"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    other = await gw.post("/api/v1/gw/echo", json={}, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_body_size_limit_is_a_clear_413(gw):
    resp = await gw.post("/api/v1/gw/echo", data=b"x" * 10_000, headers={"Content-Type": "application/json"})
    assert resp.status == 413 and (await resp.json())["title"] == "Request too large"


async def test_static_files_are_not_rate_limited(aiohttp_client, make_config):
    client = await aiohttp_client(create_app(make_config(plugins={"enabled": []},
                                                         security={"rate_limit_per_minute": 5})))
    statuses = [(await client.get("/static/core/site.css")).status for _ in range(20)]
    assert statuses == [200] * 20
    statuses = [(await client.get("/healthz")).status for _ in range(8)]
    assert statuses[0] == 200 and statuses[-1] == 429  # pages still are


async def test_auth_endpoints_are_rate_limited(gw):
    statuses = [(await gw.post("/api/v1/gw/login", json={})).status for _ in range(6)]
    assert statuses[0] == 200 and statuses[-1] == 429
    resp = await gw.post("/api/v1/gw/login", json={})
    assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
    assert (await resp.json())["status"] == 429


async def test_plain_requests_set_no_cookie(gw):
    resp = await gw.get("/healthz")
    assert "Set-Cookie" not in resp.headers


async def test_malformed_form_is_400_not_500(gw):
    resp = await gw.post("/gw/form", data=b"thing=\xff\xfe", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status in (400, 403) and resp.status != 500
    resp = await gw.post("/gw/form", data=b"--x\r\nbroken", headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert resp.status == 400


async def test_api_without_json_or_token_is_415(gw):
    resp = await gw.post("/api/v1/gw/echo", data="a=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 415 and "application/json" in (await resp.json())["detail"]


async def test_bad_bearer_token_is_401_with_www_authenticate(aiohttp_client, make_config):
    client = await aiohttp_client(create_app(make_config()))  # with the users plugin's authenticator
    resp = await client.get("/api/v1/users/me", headers={"Authorization": "Bearer nope"})
    assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_openapi_document_lists_every_api_route(aiohttp_client, make_config):
    app = create_app(make_config())
    client = await aiohttp_client(app)
    resp = await client.get("/api/v1/openapi.json")
    doc = await resp.json()
    assert resp.status == 200 and doc["openapi"].startswith("3.")
    routes = {(r.method.lower(), r.resource.get_info().get("path") or r.resource.get_info().get("formatter"))
              for r in app.router.routes() if r.resource and r.method not in ("HEAD", "OPTIONS")}
    api = {(m, p) for m, p in routes if p and p.startswith("/api/v1/")}
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert len(documented) == len(api) and ("post", "/api/v1/users") in documented
    token = doc["paths"]["/api/v1/auth/token"]["post"]
    assert token["tags"] == ["users"] and token["summary"] and "422" in token["responses"]


async def test_metrics_count_requests_by_route_pattern(gw):
    for _ in range(3):
        await gw.get("/gw/form")
    await gw.get("/no/such/page")
    text = await (await gw.get("/metrics")).text()
    assert 'ecom_http_requests_total{method="GET",route="/gw/form",status="200"}' in text
    assert 'route="unmatched",status="404"' in text and "/no/such/page" not in text  # few labels, no raw paths
    assert "ecom_http_request_seconds_bucket" in text
