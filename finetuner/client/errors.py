"""The API's one error shape (``{"error": {type, message, details}}``) raised as typed exceptions.

Classes are named by what the caller does next: fix the request (``BadRequest``, ``Invalid``),
look elsewhere (``NotFound``), wait for the state to change (``Conflict``), slow down
(``RateLimited``), or retry later (``ServerError``; the client already retried it).
"""

from __future__ import annotations

from typing import Any


class FineTunerError(Exception):
    """Anything this client raises on purpose."""


class APIError(FineTunerError):
    status_code: int = 0

    def __init__(self, message: str, *, status_code: int, error_type: str = "error", details: Any = None,
                 request_id: str | None = None) -> None:
        super().__init__(f"{status_code} {error_type}: {message}")
        self.message = message
        self.status_code = status_code
        self.error_type = error_type
        self.details = details
        self.request_id = request_id


class BadRequest(APIError):
    """400: the request does not match the API's contract."""


class Unauthorized(APIError):
    """401: no key, an unknown key or a revoked one."""


class NotFound(APIError):
    """404: unknown, or another tenant's (the API does not tell them apart)."""


class Conflict(APIError):
    """409: the object's state forbids it (cancel a finished job)."""


class PayloadTooLarge(APIError):
    """413."""


class Invalid(APIError):
    """422: understood but refused (invalid dataset, closed model, reused Idempotency-Key)."""


class RateLimited(APIError):
    """429, after the client's own retries."""


class ServerError(APIError):
    """5xx, after the client's own retries (502/503: the provider call made for this request failed)."""


class WaitTimeout(FineTunerError):
    """``wait`` gave up before the job reached a terminal state."""


_BY_STATUS: dict[int, type[APIError]] = {400: BadRequest, 401: Unauthorized, 404: NotFound, 409: Conflict,
                                         413: PayloadTooLarge, 422: Invalid, 429: RateLimited}


def error_from_response(status_code: int, body: Any, request_id: str | None = None) -> APIError:
    """The typed exception for one error response; a body not in our shape still gives a useful message."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or "")
        error_type = str(error.get("type") or "error")
        details = error.get("details")
    else:
        message, error_type, details = (str(body)[:500] if body else "no body"), "error", None
    cls = _BY_STATUS.get(status_code, ServerError if status_code >= 500 else APIError)
    return cls(message, status_code=status_code, error_type=error_type, details=details, request_id=request_id)
