"""Bounded bodies: every route answers 413 past its limit having read at most the limit plus one
chunk (none at all when ``Content-Length`` already says too much), authenticated or not.

The app is driven as ASGI with a ``receive`` that counts what the server pulled, so "consumed"
here is exactly what the server read off the wire.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from api.app import create_app
from core.config import Settings
from tests.fixtures.api import TenantKey, chat_jsonl

CHUNK = 64 * 1024
LIMIT = 1024 * 1024
OFFERED = 8 * LIMIT  # what a client would send if the server kept reading
JSON_ROUTES = ["/v1/jobs", "/v1/datasets/ds_x/split", "/v1/webhooks", "/v1/provider-webhooks/openai"]
BODILESS_ROUTES = ["/v1/jobs/job_x/cancel", "/v1/jobs/job_x/pause", "/v1/jobs/job_x/resume"]


class Wire:
    """An endless body offered in chunks, counting the bytes the app pulled."""

    def __init__(self, first: bytes, filler: bytes = b"x", total: int = OFFERED) -> None:
        self.pending = first
        self.filler = filler
        self.total = total
        self.consumed = 0

    async def receive(self) -> dict[str, Any]:
        if self.pending:
            chunk, self.pending = self.pending[:CHUNK], self.pending[CHUNK:]
        else:
            chunk = (self.filler * (CHUNK // len(self.filler) + 1))[:min(CHUNK, self.total - self.consumed)]
        self.consumed += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": self.consumed < self.total}


def call(app: FastAPI, path: str, wire: Wire, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "path": path,
             "raw_path": path.encode(), "root_path": "", "scheme": "http", "query_string": b"",
             "client": ("127.0.0.1", 1), "server": ("testserver", 80), "state": {},
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    asyncio.run(app(scope, wire.receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body)


@pytest.fixture(params=["authenticated", "unauthenticated"])
def headers(request: pytest.FixtureRequest, tenant: TenantKey) -> dict[str, str]:
    base = {"content-type": "application/json", "host": "testserver"}
    return {**base, **tenant.headers} if request.param == "authenticated" else base


@pytest.mark.parametrize("path", JSON_ROUTES)
def test_a_chunked_body_over_the_limit_is_413_after_reading_at_most_the_limit_and_one_chunk(
        api_app: FastAPI, path: str, headers: dict[str, str]) -> None:
    wire = Wire(b'{"model": "', filler=b"a")
    status, body = call(api_app, path, wire, headers)
    assert status == 413, body
    assert str(LIMIT) in body["error"]["message"], body
    assert wire.consumed <= LIMIT + CHUNK, f"read {wire.consumed} bytes of an over-limit body on {path}"


@pytest.mark.parametrize("path", BODILESS_ROUTES)
def test_a_route_without_a_body_reads_none_of_an_endless_one(api_app: FastAPI, path: str,
                                                              headers: dict[str, str]) -> None:
    wire = Wire(b"", filler=b"a")
    status, _ = call(api_app, path, wire, headers)
    assert status < 500 and wire.consumed <= LIMIT + CHUNK, (status, wire.consumed)


@pytest.mark.parametrize("path", JSON_ROUTES + BODILESS_ROUTES)
def test_a_declared_length_over_the_limit_is_413_before_reading_a_byte(
        api_app: FastAPI, path: str, headers: dict[str, str]) -> None:
    wire = Wire(b'{"model": "', filler=b"a")
    status, body = call(api_app, path, wire, {**headers, "content-length": str(OFFERED)})
    assert status == 413 and body["error"]["details"] == {"limit_bytes": LIMIT}, body
    assert wire.consumed == 0


def test_a_body_at_the_limit_is_still_parsed(auth_client: Any) -> None:
    padding = "x" * (LIMIT - 200)
    response = auth_client.post("/v1/webhooks", json={"url": "ftp://a/" + padding, "events": ["*"]})
    # parsed and validated: refused for the URL's length, not for the body's size
    assert response.status_code == 400 and "body.url" in response.text, response.text


@pytest.fixture
def small_upload_app(api_settings: Settings, sent_tasks: Any) -> FastAPI:
    return create_app(api_settings.model_copy(update={"max_upload_bytes": 256 * 1024}), send_tasks=False)


def _form(content: bytes) -> tuple[bytes, str]:
    boundary = "----limit-test"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.jsonl\"\r\n"
            f"Content-Type: application/jsonl\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_nothing_after_a_multipart_closing_boundary_is_read_beyond_one_chunk(
        small_upload_app: FastAPI, tenant: TenantKey, tmp_path: Path) -> None:
    form, content_type = _form(chat_jsonl(12))
    wire = Wire(form, filler=b"z", total=len(form) + 64 * CHUNK)
    status, body = call(small_upload_app, "/v1/datasets", wire,
                        {"content-type": content_type, "host": "testserver", **tenant.headers})
    assert status == 201, body
    assert wire.consumed <= len(form) + CHUNK, f"read {wire.consumed - len(form)} bytes past the closing boundary"


@pytest.mark.parametrize("auth", [True, False])
def test_an_upload_over_the_maximum_is_413_after_reading_at_most_the_limit_and_one_chunk(
        small_upload_app: FastAPI, tenant: TenantKey, auth: bool) -> None:
    form, content_type = _form(b"")
    wire = Wire(form[: form.index(b"\r\n\r\n") + 4], filler=b'{"messages": []}\n')
    headers = {"content-type": content_type, "host": "testserver", **(tenant.headers if auth else {})}
    status, body = call(small_upload_app, "/v1/datasets", wire, headers)
    assert status == 413 or (not auth and status == 401), body  # a route may check the key first
    limit = 256 * 1024 + 1024 * 1024
    assert wire.consumed <= limit + CHUNK
