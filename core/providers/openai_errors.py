"""Mapping the ``openai`` SDK's exceptions to ours (retryable vs final).

Status codes decide first, as the SDK itself does: 408, 409, 429 and 5xx are worth another try,
other 4xx are not. Two refinements on top:

- 429 with ``code == "insufficient_quota"`` is a billing stop, not a rate limit: final.
- A 400 (or 409) answering cancel / pause / resume whose message says the job is in a state that
  forbids it becomes :class:`ProviderConflictError`. OpenAI gives no dedicated code for this, so
  the message decides (:data:`STATE_CONFLICT_MESSAGE`): "already" + a terminal word ("Job has
  already completed", "already cancelled"), "cannot/unable to cancel|pause|resume", "not
  running/paused/active/in a … state", "terminal state", or a status word naming a terminal
  state. Anything else stays a plain final error, so a malformed request is never mistaken for a
  finished job. The error codes ``invalid_state`` / ``job_not_cancellable`` / ``conflict`` /
  ``invalid_job_state`` are also accepted, for providers that do send one.

An ``x-should-retry: true|false`` header overrides the status, as it does in the SDK.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import openai

from core.providers.errors import (
    ProviderConfigError,
    ProviderConflictError,
    ProviderError,
    ProviderFinalError,
    ProviderNotFoundError,
    ProviderRetryableError,
)
from core.providers.redaction import redact
from core.providers.retry import parse_retry_after

RETRYABLE_STATUSES = frozenset({408, 409, 429})
STATE_OPERATIONS = frozenset({"cancel_job", "pause_job", "resume_job"})
STATE_CONFLICT_CODES = frozenset({"invalid_state", "invalid_job_state", "job_not_cancellable", "conflict"})
STATE_CONFLICT_MESSAGE = re.compile(
    r"already\s+(?:been\s+)?(?:completed|complete|cancell?ed|cancell?ing|succeeded|failed|finished|ended|"
    r"terminal|paused|running|resumed|queued)"
    r"|(?:cannot|can't|can\s+not|could\s+not|unable\s+to)\s+(?:be\s+)?(?:cancel|pause|resume)"
    r"|\bnot\s+(?:currently\s+)?(?:running|paused|pausable|resumable|cancell?able|active|in\s+an?\s+\w*\s*state)"
    r"|terminal\s+state"
    r"|\b(?:status|state)\b[^.]*\b(?:succeeded|failed|cancell?ed|completed)\b",
    re.IGNORECASE,
)


def _body_error(body: object) -> dict[str, object]:
    """The ``error`` object of an OpenAI error body (the SDK sometimes hands us it unwrapped)."""
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict):
            return inner
        return body
    return {}


def _status_message(error: openai.APIStatusError) -> str:
    """The provider's own message (``error.message``), not the SDK's "Error code: 401 - {...}"."""
    inner = _body_error(error.body)
    message = inner.get("message")
    if isinstance(message, str) and message:
        return message
    return error.message or f"HTTP {error.status_code}"


def is_state_conflict(status_code: int, code: str | None, message: str) -> bool:
    """Whether a 400/409 to cancel / pause / resume means "the job's state forbids this"."""
    if status_code not in (400, 409):
        return False
    if code and code.lower() in STATE_CONFLICT_CODES:
        return True
    return bool(STATE_CONFLICT_MESSAGE.search(message))


def map_openai_error(
    error: openai.OpenAIError, *, operation: str, secrets: Iterable[str | None] = ()
) -> ProviderError:
    """Our error for an SDK exception raised by ``operation`` (a ``Provider`` method name)."""
    if isinstance(error, openai.APITimeoutError):
        return ProviderRetryableError(f"{operation}: provider did not answer in time", code="timeout")
    if isinstance(error, openai.APIConnectionError):
        cause = type(error.__cause__).__name__ if error.__cause__ else "connection error"
        return ProviderRetryableError(f"{operation}: could not reach the provider ({cause})", code="connection_error")
    if isinstance(error, openai.APIResponseValidationError):
        return ProviderFinalError(
            redact(f"{operation}: the provider's answer did not have the expected shape", secrets),
            status_code=error.status_code,
            code="invalid_response",
        )
    if isinstance(error, openai.APIStatusError):
        return _map_status_error(error, operation=operation, secrets=secrets)
    # Anything else the SDK raises before sending (missing credentials, bad arguments) is ours to fix.
    return ProviderConfigError(redact(f"{operation}: {error}", secrets), code="client_error")


def _map_status_error(
    error: openai.APIStatusError, *, operation: str, secrets: Iterable[str | None]
) -> ProviderError:
    status = error.status_code
    headers = error.response.headers
    message = redact(_status_message(error), secrets)
    code = error.code
    cls = _status_class(status, code, message, operation, (headers.get("x-should-retry") or "").strip().lower())
    return cls(
        message,
        status_code=status,
        code=code,
        param=error.param,
        retry_after=parse_retry_after(headers),
        request_id=error.request_id,
    )


def _status_class(
    status: int, code: str | None, message: str, operation: str, should_retry: str
) -> type[ProviderError]:
    if operation in STATE_OPERATIONS and is_state_conflict(status, code, message):
        return ProviderConflictError
    if status == 404:
        return ProviderNotFoundError
    if status == 429 and code == "insufficient_quota":
        return ProviderFinalError
    if should_retry in ("true", "false"):
        return ProviderRetryableError if should_retry == "true" else ProviderFinalError
    if status in RETRYABLE_STATUSES or status >= 500:
        return ProviderRetryableError
    return ProviderFinalError
