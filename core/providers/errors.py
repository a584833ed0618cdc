"""Our provider errors: what a caller may do next is in the class, not in a status code.

- :class:`ProviderRetryableError`: try again later (429, 408, 409, 5xx, timeouts, connection
  errors). Raised to the caller only once our own retry budget is spent, or when the provider
  asked for a wait longer than we block for (``retry_after`` then says how long).
- :class:`ProviderFinalError`: the same request will fail again (400, 401, 403, 422, quota).
  Subclasses: :class:`ProviderNotFoundError` (404) and :class:`ProviderConflictError` (the
  object is in a state that forbids the action, e.g. cancelling a finished job).

Every message is redacted (see :mod:`core.providers.redaction`) before it is stored on the
error, so it is safe to log, persist on a job and show to a client. The arguments of
``Exception`` are only the message, so Celery's JSON exception serialisation round-trips them.
"""

from __future__ import annotations

from typing import Any

from core.providers.redaction import redact


class ProviderError(Exception):
    """Base of every error a provider raises."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
    ) -> None:
        clean = redact(message)
        super().__init__(clean)
        self.message = clean
        self.status_code = status_code
        self.code = code
        self.param = param
        self.retry_after = retry_after
        self.request_id = request_id

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code!r}, code={self.code!r}, message={self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.__dict__.copy()))


def _rebuild(cls: type[ProviderError], message: str, state: dict[str, Any]) -> ProviderError:
    """Unpickle keeping the keyword attributes (pickle would otherwise pass only ``args``)."""
    error = cls(message)
    error.__dict__.update(state)
    return error


class ProviderRetryableError(ProviderError):
    retryable = True


class ProviderFinalError(ProviderError):
    retryable = False


class ProviderNotFoundError(ProviderFinalError):
    """The object does not exist at the provider (or is not visible to this key)."""


class ProviderConflictError(ProviderFinalError):
    """The object exists but its state forbids the action (cancel / pause / resume of a job that
    cannot take it). The caller should re-read the object instead of failing the job."""


class ProviderConfigError(ProviderFinalError):
    """The provider is not configured well enough to make any call (no key, no endpoint)."""
