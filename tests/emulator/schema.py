"""Validate what the emulator sent against OpenAI's published schema (the subset in ``emulator/spec/``).

Every deviation allowed here is one listed in ``emulator/README.md`` ("Deviations from the
published schema"); nothing else is relaxed:

1. ``FineTuningJob.status`` may be ``paused`` (OpenAI returns it; the enum lacks it).
2. ``ListFilesResponse.first_id`` / ``last_id`` may be null (an empty list has no first or last id).
3. ``OpenAIFile.purpose`` may be ``evals`` (accepted by ``CreateFileRequest``, missing from the enum).
4. ``GET /files/{id}/content`` is raw bytes, not a JSON string: it is not validated as JSON.
5. Error responses (any 4xx/5xx) are validated against ``ErrorResponse``, which the schema
   declares only for 429.
6. ``/_emulator/…`` control routes are not OpenAI's and are not validated.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml
from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS31Validator, oas31_format_checker

from emulator.spec import SPEC_PATH
from tests.emulator.server import Exchange

RAW_PATHS = {"/files/{file_id}/content"}


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    regex: re.Pattern[str]
    responses: dict[str, Any]


@cache
def load_raw_spec() -> dict[str, Any]:
    """The spec exactly as published (do not mutate)."""
    spec: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    return spec


@cache
def load_spec() -> dict[str, Any]:
    """The spec with the README's deviations applied, and nothing else."""
    relaxed = copy.deepcopy(load_raw_spec())
    schemas = relaxed["components"]["schemas"]
    schemas["FineTuningJob"]["properties"]["status"]["enum"].append("paused")
    for key in ("first_id", "last_id"):
        schemas["ListFilesResponse"]["properties"][key] = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    schemas["OpenAIFile"]["properties"]["purpose"]["enum"].append("evals")
    return relaxed


@cache
def operations() -> tuple[Operation, ...]:
    found = []
    for template, item in load_spec()["paths"].items():
        pattern = re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", template) + "$")
        for method, operation in item.items():
            found.append(Operation(method.upper(), template, pattern, operation["responses"]))
    # literal paths (/fine_tuning/jobs) must win over templated ones (/files/{file_id})
    return tuple(sorted(found, key=lambda op: op.template.count("{")))


def find_operation(method: str, path: str) -> Operation | None:
    return next((op for op in operations() if op.method == method and op.regex.match(path)), None)


@cache
def _validator(ref: str) -> OAS31Validator:
    root = dict(load_spec())
    root["$ref"] = ref  # the spec document is the root, so every local $ref inside it resolves
    return OAS31Validator(root, format_checker=oas31_format_checker)


def schema_errors(instance: Any, ref: str) -> list[str]:
    """All validation errors of ``instance`` against a ``#/components/…`` reference of the spec."""
    validator = _validator(ref)
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))]


_VALID_BODIES: set[tuple[str, bytes]] = set()


def _body_errors(body: bytes, ref: str) -> list[str]:
    """Like :func:`schema_errors` for a raw JSON body; identical bodies (polling) are checked once."""
    if (ref, body) in _VALID_BODIES:
        return []
    errors = schema_errors(json.loads(body), ref)
    if not errors:
        _VALID_BODIES.add((ref, body))
    return errors


def _response_ref(operation: Operation, status: int, content_type: str) -> str:
    declared = operation.responses.get(str(status))
    if declared is None:
        if status >= 400:
            return "#/components/schemas/ErrorResponse"
        raise ValidationError(f"status {status} is not declared for {operation.method} {operation.template}")
    if "$ref" in declared:
        declared = load_spec()["components"]["responses"][declared["$ref"].rsplit("/", 1)[-1]]
    media = "text/event-stream" if content_type.startswith("text/event-stream") else "application/json"
    schema = declared["content"][media]["schema"]
    return str(schema["$ref"])


def sse_payloads(body: bytes) -> list[Any]:
    payloads = []
    for block in body.decode("utf-8").split("\n\n"):
        data = "".join(line[len("data: "):] for line in block.splitlines() if line.startswith("data: "))
        if data and data != "[DONE]":
            payloads.append(json.loads(data))
    return payloads


def validate_exchange(exchange: Exchange, prefix: str) -> tuple[str, int] | None:
    """Validate one response; returns (operation, status) when it was checked, None when exempt.

    Raises AssertionError with every violation when the body does not conform.
    """
    path = exchange.path[len(prefix):] if exchange.path.startswith(prefix) else exchange.path
    if path.startswith("/_emulator"):
        return None
    operation = find_operation(exchange.method, path)
    where = f"{exchange.method} {path} -> {exchange.status}"
    if operation is None:
        assert exchange.status in (404, 405), f"{where}: not an OpenAI path, yet not a 404/405"
        label = "<unknown route>"
    else:
        label = f"{operation.method} {operation.template}"
    if operation is not None and operation.template in RAW_PATHS and exchange.status == 200:
        return (label, exchange.status)  # deviation 4: raw bytes
    if exchange.content_type.startswith("text/event-stream"):
        assert operation is not None
        ref = _response_ref(operation, exchange.status, exchange.content_type)
        chunks = sse_payloads(exchange.body)
        assert chunks, f"{where}: an empty event stream"
        for chunk in chunks:
            errors = schema_errors(chunk, ref)
            assert not errors, f"{where}: stream chunk violates {ref}:\n" + "\n".join(errors)
        return (label, exchange.status)
    assert exchange.content_type.startswith("application/json"), f"{where}: content type {exchange.content_type!r}"
    ref = ("#/components/schemas/ErrorResponse" if operation is None
           else _response_ref(operation, exchange.status, exchange.content_type))
    errors = _body_errors(exchange.body, ref)
    assert not errors, f"{where}: body violates {ref}:\n" + "\n".join(errors) + f"\nbody: {exchange.body[:2000]!r}"
    return (label, exchange.status)
