"""``/chat/completions``, plain or streamed (server-sent events)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse

from emulator import chat
from emulator.deps import StateDep
from emulator.schemas import ChatRequest

router = APIRouter()

RATE_LIMIT_HEADERS = {
    "x-ratelimit-limit-requests": "10000", "x-ratelimit-remaining-requests": "9999",
    "x-ratelimit-reset-requests": "6ms", "x-ratelimit-limit-tokens": "10000000",
    "x-ratelimit-remaining-tokens": "9999000", "x-ratelimit-reset-tokens": "6ms",
}


def _sse(chunks: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    for chunk in chunks:
        yield f"data: {json.dumps(chunk)}\n\n".encode()
    yield b"data: [DONE]\n\n"


@router.post("/chat/completions", response_model=None)
def create_chat_completion(body: ChatRequest, state: StateDep) -> JSONResponse | StreamingResponse:
    model, encoding = state.chat_model(body.model)
    max_tokens = body.max_completion_tokens or body.max_tokens
    result = chat.completion(body.model, model, encoding, body.messages, n=body.n or 1, max_tokens=max_tokens)
    if body.stream:
        include_usage = bool((body.stream_options or {}).get("include_usage"))
        return StreamingResponse(_sse(chat.stream_chunks(result, include_usage)), media_type="text/event-stream",
                                 headers=RATE_LIMIT_HEADERS)
    return JSONResponse(result, headers=RATE_LIMIT_HEADERS)
