"""Schemathesis against the OpenAPI schema: requests generated from it (bounded: a few examples
per operation, derandomized) never get a 5xx, with tokens of every role and without one."""

from __future__ import annotations

import pytest
from conftest import auth
from hypothesis import HealthCheck, given, settings

schemathesis = pytest.importorskip("schemathesis")

EXAMPLES = 8


def test_generated_requests_never_get_a_5xx(client, tokens):
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    seen, statuses = [], []
    for result in schema.get_all_operations():
        op = result.ok()
        # the admin token reaches every handler (DELETE: a write token, so that the tokens
        # this test uses stay alive); then a few requests without a token
        role = "write" if op.method.upper() == "DELETE" else "admin"
        _checker(op, auth(tokens[role]), EXAMPLES, statuses)()
        _checker(op, {}, 2, statuses)()
        seen.append((op.method.upper(), op.path))
    client.ctx.hub.wait_idle(10)
    assert len(seen) >= 30  # every operation of the API was exercised
    # the generated requests reach the handlers (not only the validators)
    assert sum(200 <= c < 300 for c in statuses) > 50 and 401 in statuses and 422 in statuses
    assert not client.ctx.hub.errors, client.ctx.hub.errors


def _checker(op, headers, examples, statuses):
    @given(case=op.as_strategy())
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        response = case.call(headers=headers)
        statuses.append(response.status_code)
        assert response.status_code < 500, (
            case.method,
            case.formatted_path,
            response.status_code,
            response.text[:300],
        )

    return check
