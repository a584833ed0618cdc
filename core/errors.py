"""Domain errors. Each carries the HTTP status and error type the API answers with (DESIGN §8),
so routes never decide statuses themselves."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400
    error_type = "invalid_request"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class BadRequest(DomainError):
    status_code = 400
    error_type = "invalid_request"


class NotFound(DomainError):
    status_code = 404
    error_type = "not_found"


class Conflict(DomainError):
    status_code = 409
    error_type = "conflict"


class PayloadTooLarge(DomainError):
    status_code = 413
    error_type = "payload_too_large"


class Unprocessable(DomainError):
    status_code = 422
    error_type = "unprocessable"


class ProviderUnavailable(DomainError):
    status_code = 503
    error_type = "provider_unavailable"
