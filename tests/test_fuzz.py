"""schemathesis over every /api/v1 operation of a real served shop: no 500s, and every answer as documented.

The shop is the ``client`` fixture's app, served on a real 127.0.0.1 port with its real PostgreSQL and
broker. schemathesis builds requests from GET /api/v1/openapi.json (its examples, coverage and fuzzing
phases, valid and invalid data) and sends them over HTTP from a worker thread, so the event loop that
serves the app stays free. It runs once per caller: anonymous, a customer, a seller and an admin (bearer
tokens), so each operation is reached past its role check too.

Bounded and reproducible: a fixed seed, ``derandomize``, a few examples an operation, no shrinking and no
example database; the whole file took 45-100 s on this busy 2-core machine (~1,400 requests a caller).
FUZZ_MAX_EXAMPLES=40 runs deeper (~2,350 requests a caller, ~105 s).
"""
from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from datetime import date

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance,
                                               unsupported_method)

from tests.helpers import account

pytestmark = pytest.mark.timeout(300)

SEED = 20240509
REGION = "eu-west"
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "6"))  # more for a deeper local run
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, unsupported_method]
# Operations not fuzzed, each with the reason.
EXCLUDED = {
    # A live server-sent event stream: an order's stream stays open until the order settles or the client
    # leaves, so each call would wait for its own timeout. Who may open it: tests/plugins/test_orders.py.
    ("GET", "/api/v1/orders/{id}/events"),
}
# Valid request bodies the examples phase sends (the checkout's is made with the test's product).
BODIES = {("post", "/api/v1/products"): {"name": "Example lamp", "price_cents": 4500, "currency": "EUR",
                                          "type": "Lighting", "sku": "FUZZ-EXAMPLE"}}
# Operations that end the caller's own session: fuzzed anonymously only, so the later runs keep their token.
ENDS_SESSION = {("DELETE", "/api/v1/auth/token")}


def settings_for(role: str, token: str | None) -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "seed": SEED,
        "headers": {"Authorization": f"Bearer {token}"} if token else {},
        "request-timeout": 30,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "no-shrink": True, "database": "none",
                       "mode": "all"},
        "phases": {"stateful": {"enabled": False}},
    })


def fuzz(document: dict, base_url: str, role: str, token: str | None) -> tuple[list[str], int, Counter]:
    """Every operation's schemathesis test, run here (in a worker thread); (failures, operations, answers
    counted by status)."""
    from schemathesis.generation.feedback import FeedbackSources
    from schemathesis.pytest._test_builder import build_operation_test

    schema = schemathesis.openapi.from_dict(document, config=settings_for(role, token))
    failures, ran, answers = [], 0, Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        key = (operation.method.upper(), operation.path)
        if key in EXCLUDED or (token and key in ENDS_SESSION):
            continue

        def call(case) -> None:
            answers[case.call_and_validate(base_url=base_url, checks=CHECKS).status_code] += 1

        test = build_operation_test(config=schema.config, operation=operation, test_func=call, given_kwargs={},
                                    feedback=FeedbackSources())
        ran += 1
        try:
            run_past_cpython_ast_race(test)
        except (Exception, BaseExceptionGroup) as err:  # one operation's failure must not hide the others'
            failures.append(f"[{role}] {operation.label}:\n{err}")
    return failures, ran, answers


def run_past_cpython_ast_race(test, tries: int = 3) -> None:
    """``test()``, run again when CPython 3.11's ``ast.parse`` raised its spurious "AST constructor recursion
    depth mismatch" (python/cpython#106905: the ast module's depth counter is shared by all threads, and
    hypothesis parses schemathesis' source in this worker thread to describe a filter while the shop's thread
    runs). Seen once in CI with two test runs on the machine; it says nothing about the shop, so it is retried,
    and any other failure is not."""
    for attempt in range(tries):
        try:
            return test()
        except (Exception, BaseExceptionGroup) as err:
            if not _ast_race(err) or attempt == tries - 1:
                raise


def _ast_race(err: BaseException) -> bool:
    if isinstance(err, BaseExceptionGroup):
        return all(_ast_race(e) for e in err.exceptions)
    return isinstance(err, SystemError) and "AST constructor recursion depth mismatch" in str(err)


async def shop_with_data(client) -> tuple[dict[str, str | None], dict[str, dict[str, str]], dict]:
    """Callers' tokens by role, real path values by path prefix (a seller's product with stock and a
    customer's order) and valid bodies, which the examples phase sends so that the handlers are reached
    past their 404s and 422s."""
    tokens: dict[str, str | None] = {"anonymous": None}
    for role in ("customer", "seller", "admin"):
        _, _, tokens[role] = await account(client, seller=role == "seller", admin=role == "admin")
    seller, customer = ({"Authorization": f"Bearer {tokens[r]}"} for r in ("seller", "customer"))
    resp = await client.post("/api/v1/products", headers=seller, json={
        "name": "Fuzzed mug", "price_cents": 1299, "currency": "EUR", "type": "Kitchen", "sku": "FUZZ-1"})
    assert resp.status == 201, await resp.text()
    product = str((await resp.json())["id"])
    resp = await client.put(f"/api/v1/inventory/{product}/{REGION}", headers=seller, json={"quantity": 10_000})
    assert resp.status == 200, await resp.text()
    checkout = {"items": [{"product_id": int(product), "quantity": 1}], "ship_to": {"name": "Ana García", "line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013", "country": "ES"},
                "payment": {"method": "card", "card_number": "4242424242424242", "exp_month": 12,
                            "exp_year": date.today().year + 2, "cvc": "123"}}
    resp = await client.post("/api/v1/orders", headers=customer, json=checkout)
    assert resp.status == 201, await resp.text()
    order = (await resp.json())["id"]
    bodies = {**BODIES, ("post", "/api/v1/orders"): checkout}
    values = {"/api/v1/orders": {"id": order}, "/api/v1/products": {"id": product},
              "/api/v1/inventory/reservations": {"order_ref": order},
              "/api/v1/inventory": {"product_id": product, "region": REGION}, "/api/v1/cart": {"product_id": product}}
    return tokens, values, bodies


def with_examples(document: dict, values: dict[str, dict[str, str]], bodies: dict) -> dict:
    """The document with an ``example`` on each path parameter that names a real resource, and valid
    bodies for the creates (so that their 201 answers are checked against their schemas too)."""
    for path, operations in document["paths"].items():
        known = next((v for prefix, v in values.items() if path.startswith(prefix + "/")), {})
        for method, operation in operations.items():
            if (method, path) in bodies:
                operation["requestBody"]["content"]["application/json"]["example"] = bodies[(method, path)]
            for param in operation.get("parameters", []):
                if param["in"] == "path" and param["name"] in known:
                    param["example"] = known[param["name"]]
    return document


@pytest.mark.parametrize("role", ["anonymous", "customer", "seller", "admin"])
async def test_every_operation_answers_as_documented(client, role):
    tokens, values, bodies = await shop_with_data(client)
    token = tokens[role]
    document = with_examples(await (await client.get("/api/v1/openapi.json")).json(), values, bodies)
    base_url = str(client.make_url("")).rstrip("/")
    started = time.monotonic()
    failures, ran, answers = await asyncio.to_thread(fuzz, document, base_url, role, token)
    print(f"\nfuzz {role}: {ran} operations, {sum(answers.values())} requests in {time.monotonic() - started:.1f} s;"
          f" answers {dict(sorted(answers.items()))}")
    assert ran >= 30, "the document lost operations"
    assert sum(n for status, n in answers.items() if status < 300) >= 20, "the fuzzer never got past the errors"
    assert not failures, f"{len(failures)} operation(s) failed:\n\n" + "\n\n".join(failures)
