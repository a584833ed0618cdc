"""OpenAI's error shape, and the handlers that make FastAPI speak it.

The SDK builds its exception from ``{"error": {message, type, param, code}}`` and the HTTP status,
so every failure the emulator sends — ours, FastAPI's request validation, unknown routes — must use
this one body, or client code tested here would meet a different shape in production.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("emulator")


def error_body(message: str, type_: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class APIError(Exception):
    """An error response the way OpenAI sends it; raise it anywhere below a route."""

    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def bad_request(message: str, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, param=param, code=code)


def not_found(message: str, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(404, message, param=param, code=code)


def _param_from_loc(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "form")]
    # pydantic names union members (``int``, ``literal['auto']``) in the location; they are noise.
    parts = [p for p in parts if not p.startswith(("literal[", "function-")) and p not in {"int", "float", "str"}]
    return ".".join(parts) or None


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    first = errors[0] if errors else {"loc": (), "msg": "Invalid request", "type": "value_error"}
    param = _param_from_loc(tuple(first.get("loc", ())))
    if first.get("type") == "missing":
        message, code = f"Missing required parameter: '{param}'.", "missing_required_parameter"
    elif first.get("type") == "json_invalid":
        message, code = "We could not parse the JSON body of your request.", None
        param = None
    else:
        message = f"Invalid value for '{param}': {first.get('msg', 'invalid')}."
        code = "invalid_value"
    return JSONResponse(error_body(message, "invalid_request_error", param, code), status_code=400)


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    unknown_route = exc.status_code in (404, 405)
    message = f"Invalid URL ({request.method} {request.url.path})" if unknown_route else str(exc.detail)
    return JSONResponse(error_body(message), status_code=exc.status_code)


def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, APIError)
    return exc.response()


def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("emulator bug", exc_info=exc)
    return JSONResponse(
        error_body("The server had an error while processing your request. Sorry about that!", "server_error"),
        status_code=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
