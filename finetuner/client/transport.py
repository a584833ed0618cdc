"""What the blocking and the async client share about talking HTTP: retries, errors, payloads, SSE.

Only the sending differs between the two (``httpx.Client`` vs ``httpx.AsyncClient``); every
decision — retry or not, how long to wait, what a job request looks like, how a stream is cut into
messages — is made here once.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from finetuner.client.config import ClientConfig
from finetuner.client.errors import error_from_response
from finetuner.client.models import StreamMessage

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
BACKOFF_INITIAL = 0.5
BACKOFF_MAX = 20.0
RETRY_AFTER_MAX = 60.0  # a server asking for longer is answered with an error, not a hang
USER_AGENT = "finetuner-python/0.1.0"


def headers(config: ClientConfig) -> dict[str, str]:
    result = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if config.api_key:
        result["Authorization"] = f"Bearer {config.api_key}"
    return result


def retry_after_seconds(response: httpx.Response | None) -> float | None:
    """``Retry-After`` as seconds (delta or HTTP date), or None when absent or unreadable."""
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return None if parsed is None else max(0.0, parsed.timestamp() - time.time())


def backoff(attempt: int, response: httpx.Response | None) -> float | None:
    """Seconds to wait before retry ``attempt`` (1-based); None when the server asks for too long."""
    asked = retry_after_seconds(response)
    if asked is not None:
        return asked if asked <= RETRY_AFTER_MAX else None
    return float(min(BACKOFF_MAX, BACKOFF_INITIAL * 2 ** (attempt - 1)) * (0.5 + random.random() / 2))


def should_retry(response: httpx.Response | None, error: Exception | None) -> bool:
    if error is not None:
        return isinstance(error, httpx.TransportError)
    return response is not None and response.status_code in RETRY_STATUSES


def parse(response: httpx.Response) -> Any:
    """The JSON body of a success, or the API's error raised as its typed exception."""
    if response.is_success:
        return response.json() if response.content else None
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    raise error_from_response(response.status_code, body, response.headers.get("x-request-id"))


def idempotency_key() -> str:
    return f"ftc-{uuid.uuid4()}"


# --- requests ------------------------------------------------------------------------------------


@dataclass
class Upload:
    """A dataset upload's multipart parts, from a path or bytes."""

    filename: str
    content: bytes
    form: dict[str, str] = field(default_factory=dict)


def upload_parts(path_or_bytes: str | os.PathLike[str] | bytes, *, name: str | None, format: str | None,
                 model: str | None, system_prompt: str | None, columns: str | None) -> Upload:
    if isinstance(path_or_bytes, bytes | bytearray):
        content, filename = bytes(path_or_bytes), name or "dataset.jsonl"
    else:
        path = Path(path_or_bytes)
        content, filename = path.read_bytes(), path.name
    form = {key: value for key, value in (("name", name), ("format", format), ("model", model),
                                          ("system_prompt", system_prompt), ("columns", columns)) if value}
    return Upload(filename=filename, content=content, form=form)


def looks_like_path(value: str | os.PathLike[str]) -> bool:
    """A dataset argument is a file to upload when it is a path object or names an existing file.

    Dataset ids (``ds_…``) never do; a string that is neither is sent as an id and the API says 404.
    """
    if isinstance(value, os.PathLike):
        return True
    return not value.startswith("ds_") and Path(value).is_file()


def job_body(config: ClientConfig, train: str, valid: str | None, *, base_model: str, n_epochs: Any,
             batch_size: Any, learning_rate_multiplier: Any, suffix: str | None, seed: int | None,
             extra: dict[str, Any]) -> dict[str, Any]:
    """The ``POST /v1/jobs`` body for ``create_fine_tune_job``'s arguments (OpenAI's names where they differ)."""
    body: dict[str, Any] = {"training_dataset_id": train, "model": base_model}
    if valid is not None:
        body["validation_dataset_id"] = valid
    hyperparameters = {name: value for name, value in (("n_epochs", n_epochs), ("batch_size", batch_size),
                                                        ("learning_rate_multiplier", learning_rate_multiplier))
                       if value is not None}
    if hyperparameters:
        body["hyperparameters"] = hyperparameters
    if suffix is not None:
        body["suffix"] = suffix
    if seed is not None:
        body["seed"] = seed
    wandb = extra.pop("wandb", None)
    if wandb is None and config.wandb_project:
        wandb = {"project": config.wandb_project}
    elif isinstance(wandb, str):
        wandb = {"project": wandb}
    if wandb is not None:
        body["wandb"] = wandb
    body.update(extra)
    return body


# --- server-sent events --------------------------------------------------------------------------


class SSEDecoder:
    """Cuts a ``text/event-stream`` into messages (WHATWG rules: ``id``, ``event``, ``data``; comments skipped)."""

    def __init__(self) -> None:
        self._event = "message"
        self._data: list[str] = []
        self._id: str | None = None
        self.last_event_id: str | None = None

    def feed(self, line: str) -> StreamMessage | None:
        line = line.rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            self._id = value
        return None

    def _dispatch(self) -> StreamMessage | None:
        if not self._data:
            self._event = "message"
            return None
        if self._id is not None:
            self.last_event_id = self._id
        try:
            data = json.loads("\n".join(self._data))
        except ValueError:
            data = {"text": "\n".join(self._data)}
        payload = data if isinstance(data, dict) else {"value": data}
        message = StreamMessage(id=self._id, event=self._event, data=payload)
        self._event, self._data, self._id = "message", [], None
        return message

    def decode(self, lines: Iterable[str]) -> Iterator[StreamMessage]:
        for line in lines:
            message = self.feed(line)
            if message is not None:
                yield message
