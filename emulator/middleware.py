"""What happens to every request before a route sees it: call log, auth, injected faults, headers.

A plain ASGI middleware rather than a route dependency, so that unknown paths are logged and
authenticated too, and so a "slow" fault can wait with ``asyncio.sleep`` without holding a thread.
"""

from __future__ import annotations

import asyncio
import math
import time
from urllib.parse import parse_qsl

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator import ids
from emulator.errors import error_body
from emulator.faults import Fault
from emulator.state import EmulatorState

CONTROL_PREFIX = "/_emulator"
PRESIGNED_PREFIX = "/v1/files/upload-target/"

RATE_LIMIT_EXHAUSTED = {
    "x-ratelimit-limit-requests": "10000", "x-ratelimit-remaining-requests": "0",
    "x-ratelimit-reset-requests": "1s", "x-ratelimit-limit-tokens": "10000000",
    "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1s",
}


def relative_path(scope: Scope) -> str:
    """The path below the app's mount point (``/v1/files`` mounted at ``/v1`` → ``/files``)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    return path or "/"


def _mask(key: str) -> str:
    return key[:3] + "*" * 6 + key[-4:] if len(key) > 8 else "*" * len(key)


def auth_error(headers: Headers, api_key: str | None) -> JSONResponse | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return JSONResponse(error_body(
            "You didn't provide an API key. You need to provide your API key in an Authorization header using "
            "Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."), status_code=401)
    if api_key is not None and token != api_key:
        return JSONResponse(error_body(f"Incorrect API key provided: {_mask(token)}.", code="invalid_api_key"),
                            status_code=401)
    return None


def fault_response(fault: Fault, default_retry_after: float) -> JSONResponse:
    headers: dict[str, str] = {}
    retry_after = fault.retry_after
    if fault.status == 429:
        retry_after = default_retry_after if retry_after is None else retry_after
        headers.update(RATE_LIMIT_EXHAUSTED)
        body = error_body("Rate limit reached for requests per min (RPM): Limit 10000, Used 10000, Requested 1. "
                          f"Please try again in {retry_after:g}s.", "requests", code="rate_limit_exceeded")
    elif fault.status == 500:
        body = error_body("The server had an error while processing your request. Sorry about that!", "server_error")
    elif fault.status == 503:
        body = error_body("The engine is currently overloaded, please try again later.", "server_error")
    else:
        kind = "server_error" if fault.status >= 500 else "invalid_request_error"
        body = error_body(f"Injected fault: HTTP {fault.status}.", kind)
    if retry_after is not None:
        # Retry-After is whole seconds (the schema says an integer >= 1); a fractional delay also
        # goes in retry-after-ms, which the SDK prefers.
        headers["retry-after"] = str(max(1, math.ceil(retry_after)))
        if retry_after != int(retry_after):
            headers["retry-after-ms"] = str(int(retry_after * 1000))
    return JSONResponse(body, status_code=fault.status, headers=headers)


async def _answer_late(app: ASGIApp, delay: float, scope: Scope, receive: Receive, send: Send) -> None:
    """Do the work now, answer ``delay`` seconds later: a client that timed out meanwhile never
    learns that its file was stored or its job created (and a retry meets the result)."""
    held: list[Message] = []

    async def hold(message: Message) -> None:
        held.append(message)

    await app(scope, receive, hold)
    await asyncio.sleep(delay)
    for message in held:
        await send(message)


class EmulatorMiddleware:
    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = self.state
        path = relative_path(scope)
        method: str = scope["method"]
        control = path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")
        started = time.perf_counter()
        request_id = ids.request_id()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["x-request-id"] = request_id
                headers["openai-version"] = "2020-10-01"
                headers["openai-organization"] = state.settings.organization
                headers["openai-processing-ms"] = str(int((time.perf_counter() - started) * 1000))
            await send(message)

        if not control:
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
            state.record_call(method, path, query)
        # A presigned upload URL (Together's upload handshake) carries its own authority, like S3's.
        presigned = path.startswith(PRESIGNED_PREFIX)
        refusal = None if presigned else auth_error(Headers(scope=scope), state.settings.api_key)
        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            return
        if not control:
            fault = state.faults.decide(method, path)
            if fault is not None and fault.lose_answer:
                await _answer_late(self.app, fault.delay, scope, receive, send_with_headers)
                return
            if fault is not None:
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault.status != 200:
                    await fault_response(fault, state.faults.profile.retry_after)(scope, receive, send_with_headers)
                    return
        await self.app(scope, receive, send_with_headers)
