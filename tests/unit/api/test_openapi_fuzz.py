"""Schemathesis against the app's own OpenAPI schema: no 5xx, and every answer matches the schema.

Bounded (a few dozen examples per operation) so it stays a unit-suite citizen. The positive /
negative acceptance checks are left out on purpose: a well-formed request the rules refuse
(unknown model, reused Idempotency-Key) is a correct 422, and unknown query parameters are ignored.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi import checks

from tests.fixtures.api import TenantKey

EXAMPLES_PER_OPERATION = 25
EXCLUDED: list[Any] = [checks.negative_data_rejection, checks.positive_data_acceptance]


def _fuzz(strategy: st.SearchStrategy[Any], headers: dict[str, str]) -> None:
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        case = data.draw(strategy)
        case.call_and_validate(headers=headers, excluded_checks=EXCLUDED)

    check()


def test_no_server_errors_and_answers_match_the_schema(api_app: FastAPI, tenant: TenantKey) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api_app)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 15, [op.label for op in operations]
    for operation in operations:
        _fuzz(operation.as_strategy(), tenant.headers)
