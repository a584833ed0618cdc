"""The fuzz suite on PostgreSQL, where text the database cannot store used to answer 500.

Two parts. Schemathesis over every operation, with string parameters and JSON fields drawn from a
strategy that mixes NUL, lone surrogates and invalid UTF-8 (as %-escapes) into ordinary text; and a
schema-driven sweep that puts those values, one at a time, into every path parameter, every string
query parameter and every string field of every JSON body: zero 5xx, and a NUL is a 400.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi import checks

from tests.fixtures.api import TenantKey, pg_database

EXAMPLES_PER_OPERATION = 10
EXCLUDED: list[Any] = [checks.negative_data_rejection, checks.positive_data_acceptance]
BAD_TEXT = ["\x00", "a\x00b", "\ud800", "%FF%FE", "\x00" * 3 + "id"]
URL_SAFE_BAD_TEXT = ["\x00", "a\x00b", "%FF%FE", "\x00" * 3 + "id"]  # what schemathesis can put in a URL
counts = {"requests": 0, "5xx": 0}


@pytest.fixture
def api_database_url() -> Iterator[str]:
    with pg_database("finetuner_test_fuzz") as url:
        yield url


def _ref(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def _string_fields(spec: dict[str, Any], schema: dict[str, Any], prefix: tuple[str, ...] = ()
                   ) -> Iterator[tuple[str, ...]]:
    """Paths of string-typed properties (through objects and ``anyOf`` branches), to inject into."""
    schema = _ref(spec, schema)
    for branch in schema.get("anyOf", []):
        yield from _string_fields(spec, branch, prefix)
    if schema.get("type") == "string":
        yield prefix
    for name, sub in (schema.get("properties") or {}).items():
        yield from _string_fields(spec, sub, (*prefix, name))
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict) and _ref(spec, extra).get("type") == "string":
        yield (*prefix, "key")


def _body_with(fields: tuple[str, ...], value: str) -> Any:
    body: Any = value
    for name in reversed(fields):
        body = {name: body}
    return body


def _cases(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            params = operation.get("parameters", [])
            path_values = {p["name"]: "x" for p in params if p["in"] == "path"}
            for bad in BAD_TEXT:
                for name in path_values:
                    yield method, path, {"path": {**path_values, name: bad}, "where": f"path.{name}"}
                for p in params:
                    if p["in"] == "query" and _ref(spec, p.get("schema", {})).get("type") in ("string", None):
                        yield method, path, {"path": path_values, "query": {p["name"]: bad},
                                             "where": f"query.{p['name']}"}
                content = (operation.get("requestBody") or {}).get("content", {})
                if "application/json" in content:
                    for fields in set(_string_fields(spec, content["application/json"]["schema"])):
                        if fields:
                            yield method, path, {"path": path_values, "json": _body_with(fields, bad),
                                                 "where": "body." + ".".join(fields)}


def _escape(value: str) -> str:
    """For a URL: "%FF%FE" stays raw (invalid UTF-8 on the wire); anything else is %-escaped byte for byte."""
    return value if value.startswith("%") else quote(value, safe="", errors="surrogatepass")


def _url(path: str, values: dict[str, str], query: dict[str, str] | None) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", _escape(value))
    if query:
        path += "?" + "&".join(f"{name}={_escape(value)}" for name, value in query.items())
    return path


def test_bad_text_in_every_parameter_and_string_field_is_never_a_5xx(api_app: FastAPI, tenant: TenantKey) -> None:
    spec = api_app.openapi()
    seen = 0
    with TestClient(api_app, headers=tenant.headers, raise_server_exceptions=False) as client:
        for method, path, case in _cases(spec):
            url = _url(path, case["path"], case.get("query"))
            raw = json.dumps(case["json"]).encode() if "json" in case else None  # ensure_ascii: \ud800 escaped
            response = client.request(method.upper(), url, content=raw,
                                      headers={"content-type": "application/json"} if raw else {})
            seen += 1
            if "\x00" in str(case.get("json", "")) + str(case.get("query", "")) and response.status_code != 404:
                assert response.status_code == 400, f"{method.upper()} {url} with {case}: {response.text}"
            assert response.status_code < 500, f"{method.upper()} {path} with {case}: {response.text}"
    print(f"bad-text sweep on PostgreSQL: {seen} requests, 0 5xx")
    assert seen > 100


def _bad_strings() -> st.SearchStrategy[str]:
    # Non-empty and no "/": an empty or slashed id is another route (``/v1/datasets/`` is the list).
    plain = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="/?#."), min_size=1, max_size=12)
    return st.one_of(plain, st.sampled_from(URL_SAFE_BAD_TEXT),
                     st.builds(lambda a, b: a + b, plain, st.sampled_from(URL_SAFE_BAD_TEXT)))


def _fuzz(strategy: st.SearchStrategy[Any], headers: dict[str, str]) -> int:
    calls = 0

    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        nonlocal calls
        case = data.draw(strategy)
        if case.path_parameters:
            case.path_parameters = {k: data.draw(_bad_strings()) for k in case.path_parameters}
        if case.query:
            case.query = {k: (data.draw(_bad_strings()) if isinstance(v, str) else v) for k, v in case.query.items()}
        calls += 1
        case.call_and_validate(headers=headers, excluded_checks=EXCLUDED)

    check()
    return calls


def test_schemathesis_finds_no_server_error_on_postgresql(api_app: FastAPI, tenant: TenantKey) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api_app)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    calls = sum(_fuzz(operation.as_strategy(), tenant.headers) for operation in operations)
    print(f"schemathesis on PostgreSQL: {len(operations)} operations, {calls} cases, 0 5xx")
