"""Mapping the ``together`` SDK's exceptions to ours, by the same rules as OpenAI's.

Together's SDK is generated like OpenAI's (same exception classes, no ``code`` / ``param``
attributes: they are read from the body, ``{"error": {"message", "type", "code"}}`` or a flat
``{"message": ...}``). 408, 409, 429 and 5xx retry; other 4xx are final; 404 is not-found; a 400
to cancel a finished job is a conflict. Arguments the SDK refuses before sending (a ``ValueError``
such as a batch size over the model's limit) are final: the same request fails again.
"""

from __future__ import annotations

from collections.abc import Iterable

import together

from core.providers.errors import ProviderError, ProviderFinalError, ProviderRetryableError
from core.providers.openai_errors import _status_class
from core.providers.redaction import redact
from core.providers.retry import parse_retry_after


def _body_fields(body: object) -> tuple[str | None, str | None, str | None]:
    if not isinstance(body, dict):
        return (body if isinstance(body, str) and body else None), None, None
    inner = body.get("error") if isinstance(body.get("error"), dict) else body
    assert isinstance(inner, dict)
    message, code, param = inner.get("message"), inner.get("code") or inner.get("type"), inner.get("param")
    return (message if isinstance(message, str) else None, code if isinstance(code, str) else None,
            param if isinstance(param, str) else None)


def map_together_error(error: Exception, *, operation: str, secrets: Iterable[str | None] = ()) -> ProviderError:
    """Our error for an exception raised by the SDK during ``operation`` (a ``Provider`` method name)."""
    if isinstance(error, together.APITimeoutError):
        return ProviderRetryableError(f"{operation}: provider did not answer in time", code="timeout")
    if isinstance(error, together.APIConnectionError):
        cause = type(error.__cause__).__name__ if error.__cause__ else "connection error"
        return ProviderRetryableError(f"{operation}: could not reach the provider ({cause})", code="connection_error")
    if isinstance(error, together.APIResponseValidationError):
        return ProviderFinalError(redact(f"{operation}: the provider's answer did not have the expected shape",
                                         secrets), status_code=error.status_code, code="invalid_response")
    if isinstance(error, together.APIStatusError):
        message, code, param = _body_fields(error.body)
        text = redact(message or error.message or f"HTTP {error.status_code}", secrets)
        headers = error.response.headers
        cls = _status_class(error.status_code, code, text, operation,
                            (headers.get("x-should-retry") or "").strip().lower())
        return cls(text, status_code=error.status_code, code=code, param=param,
                   retry_after=parse_retry_after(headers), request_id=headers.get("x-request-id"))
    return ProviderFinalError(redact(f"{operation}: {error}", secrets), code="client_error")
