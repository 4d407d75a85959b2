"""schemathesis over every /api/v1 operation of a real served shop: no 500s, and every answer as documented.

The shop is the ``client`` fixture's app, served on a real 127.0.0.1 port with its real PostgreSQL and
broker. schemathesis builds requests from GET /api/v1/openapi.json (its examples, coverage and fuzzing
phases, valid and invalid data) and sends them over HTTP from a worker thread, so the event loop that
serves the app stays free. It runs once per caller: anonymous, a customer, a seller and an admin (bearer
tokens), so each operation is reached past its role check too.

Bounded and reproducible: a fixed seed, ``derandomize``, a few examples an operation, no shrinking and no
example database; the whole file takes about a minute or two on a busy 2-core machine.
"""
from __future__ import annotations

import asyncio
import time

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance,
                                               unsupported_method)

from tests.helpers import account

pytestmark = pytest.mark.timeout(300)

SEED = 20240509
MAX_EXAMPLES = 6
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, unsupported_method]
# Operations not fuzzed, each with the reason.
EXCLUDED = {
    # A live server-sent event stream: an order's stream stays open until the order settles or the client
    # leaves, so each call would wait for its own timeout. Its 401/404 answers are tested in test_orders.
    ("GET", "/api/v1/orders/{id}/events"),
}
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


def fuzz(document: dict, base_url: str, role: str, token: str | None) -> tuple[list[str], int, int]:
    """Every operation's schemathesis test, run here (in a worker thread); (failures, operations, requests)."""
    from schemathesis.generation.feedback import FeedbackSources
    from schemathesis.pytest._test_builder import build_operation_test

    schema = schemathesis.openapi.from_dict(document, config=settings_for(role, token))
    failures, ran, sent = [], 0, [0]
    for result in schema.get_all_operations():
        operation = result.ok()
        key = (operation.method.upper(), operation.path)
        if key in EXCLUDED or (token and key in ENDS_SESSION):
            continue

        def call(case) -> None:
            sent[0] += 1
            case.call_and_validate(base_url=base_url, checks=CHECKS)

        test = build_operation_test(config=schema.config, operation=operation, test_func=call, given_kwargs={},
                                    feedback=FeedbackSources())
        ran += 1
        try:
            test()
        except (Exception, BaseExceptionGroup) as err:  # one operation's failure must not hide the others'
            failures.append(f"[{role}] {operation.label}:\n{err}")
    return failures, ran, sent[0]


@pytest.mark.parametrize("role", ["anonymous", "customer", "seller", "admin"])
async def test_every_operation_answers_as_documented(client, role):
    token = None
    if role != "anonymous":
        _, _, token = await account(client, seller=role == "seller", admin=role == "admin")
    document = await (await client.get("/api/v1/openapi.json")).json()
    base_url = str(client.make_url("")).rstrip("/")
    started = time.monotonic()
    failures, ran, sent = await asyncio.to_thread(fuzz, document, base_url, role, token)
    print(f"\nfuzz {role}: {ran} operations, {sent} requests in {time.monotonic() - started:.1f} s")
    assert ran >= 30, "the document lost operations"
    assert not failures, f"{len(failures)} operation(s) failed:\n\n" + "\n\n".join(failures)
