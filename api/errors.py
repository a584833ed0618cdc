"""Every error leaves the API in one shape: ``{"error": {"type", "message", "details"?}}`` (DESIGN §8).

Status policy:
- 400 ``invalid_request``: the request does not match the contract — malformed JSON, wrong types,
  unknown fields, missing parts, values outside the documented bounds (``limit`` > 100, a suffix
  of 65 characters). Anything the OpenAPI schema alone can reject.
- 422 ``unprocessable``: the request is well-formed but the service refuses it — an invalid or
  wrong-format dataset, an unknown or closed model, an Idempotency-Key reused with another body.
  These come from ``core`` as domain errors.
- 401 / 404 / 409 / 413 from the matching domain errors; 404 / 405 for unknown routes / methods.
- 503 ``provider_unavailable`` (with ``Retry-After``) when a provider call the request waited on is
  temporarily failing; 502 ``provider_error`` if the provider refused it in a way core did not map.
- 500 ``internal_error``: logged with its traceback, answered without any internal detail.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.schemas import ErrorResponse
from api.validation_messages import describe
from core.errors import DomainError
from core.providers.errors import ProviderError

log = logging.getLogger(__name__)

PROVIDER_RETRY_AFTER_SECONDS = 5
_TYPES_BY_STATUS = {
    400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
    422: "unprocessable", 429: "rate_limited",
}


def error_response(status_code: int, error_type: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": error_type, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status_code, headers=headers)


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return error_response(exc.status_code, exc.error_type, exc.message, exc.details, headers)


async def _provider_error(request: Request, exc: Exception) -> JSONResponse:
    """A provider call the route waited on (pause / resume) failed; its message is already redacted."""
    assert isinstance(exc, ProviderError)
    if exc.retryable:
        wait = max(1, math.ceil(exc.retry_after or PROVIDER_RETRY_AFTER_SECONDS))
        return error_response(503, "provider_unavailable", f"the provider is unavailable, try again: {exc.message}",
                              {"retry_after_seconds": wait}, headers={"Retry-After": str(wait)})
    log.warning("provider refused %s %s: %s", request.method, request.url.path, exc.message)
    return error_response(502, "provider_error", f"the provider refused the request: {exc.message}",
                          {"code": exc.code} if exc.code else None)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """400 naming each failing field with its real constraint; ``details`` keeps pydantic's list
    (location, reason, type) and does not echo the input."""
    assert isinstance(exc, RequestValidationError)
    problems = [{"loc": _location(tuple(e.get("loc", ()))), "msg": e.get("msg", ""), "type": e.get("type", "")}
                for e in exc.errors()]
    return error_response(400, "invalid_request", describe(exc.errors()), problems)


def _allowed_methods(request: Request) -> str | None:
    """Every method the path supports, from the OpenAPI schema.

    Starlette's own ``Allow`` names only the methods of the first route whose path matched, which
    is wrong when one path is served by several routes (``GET`` and ``POST /v1/jobs``).
    """
    path = request.url.path
    for template, operations in request.app.openapi().get("paths", {}).items():
        if re.fullmatch(re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)), path):
            return ", ".join(sorted(method.upper() for method in operations))
    return None


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route for {request.method} {request.url.path}"
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
        allowed = _allowed_methods(request)
        if allowed:
            headers["Allow"] = allowed
    error_type = _TYPES_BY_STATUS.get(exc.status_code, "error" if exc.status_code < 500 else "internal_error")
    return error_response(exc.status_code, error_type, message, headers=headers or None)


async def _unhandled_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal server error; it has been logged")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(ProviderError, _provider_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unhandled_error)


def _doc(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


# Declared on every router so the OpenAPI schema shows our error shape (and FastAPI does not add
# its default 422 ``HTTPValidationError``, which this API never sends).
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _doc("Malformed request: it does not match this schema"),
    401: _doc("Missing, unknown or revoked API key"),
    404: _doc("Unknown id, or another tenant's"),
    413: _doc("Request body over this route's limit (api.body_limit)"),
    422: _doc("Understood but refused"),
}
CONFLICT: dict[int | str, dict[str, Any]] = {409: _doc("The job's state does not allow this")}
PROVIDER: dict[int | str, dict[str, Any]] = {503: _doc("The provider is temporarily unavailable; see Retry-After")}
TOO_LARGE: dict[int | str, dict[str, Any]] = {413: _doc("Upload over the size limit")}
