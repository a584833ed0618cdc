"""Every request body is bounded, and checked while it streams in (pure ASGI, before any route).

FastAPI reads a JSON body whole before it resolves the route's dependencies, and the provider
webhook needs the whole body for its signature, so without a limit here one unauthenticated
200 MB body is held in memory before the 401. This middleware answers 413 at once for a
``Content-Length`` over the route's limit, and otherwise counts bytes as they arrive: the first
chunk past the limit ends the request (the route sees :class:`BodyTooLarge` from ``receive``,
which the error handlers turn into 413), so at most the limit plus one chunk is ever read.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LimitFor = Callable[[str, str], int]  # (method, path) -> the body limit in bytes


def too_large_message(limit: int) -> str:
    return f"request body exceeds the limit of {limit} bytes for this route"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` past the limit; an HTTPException so FastAPI's body parsing re-raises
    it as it is (it turns any other error while reading into a 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=too_large_message(limit))
        self.limit = limit


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimit:
    def __init__(self, app: ASGIApp, *, limit_for: LimitFor) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _answer_413(send, limit)
            return
        received = 0
        started = overflowed = False

        async def limited_receive() -> Message:
            nonlocal received, overflowed
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    overflowed = True
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if overflowed:  # else the server would read (and discard) the rest to reuse the connection
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTooLarge as exc:  # read outside a route's error handling (a middleware, a mount)
            if started:
                raise
            await _answer_413(send, exc.limit)


async def _answer_413(send: Send, limit: int) -> None:
    body = json.dumps({"error": {"type": "payload_too_large", "message": too_large_message(limit),
                                 "details": {"limit_bytes": limit}}}).encode()
    headers: list[Any] = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                          (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
