"""The one retry policy for provider calls: bounded, jittered, and obedient to ``Retry-After``.

The SDK's own retries are switched off (``max_retries=0``) so that attempts, waits and the total
time a worker blocks are decided here, in one place, from settings. A provider that asks for a
longer wait than ``retry_after_max_seconds`` is not kept waiting on a worker thread: the
retryable error goes to the caller with ``retry_after`` set, and the caller re-schedules.
"""

from __future__ import annotations

import email.utils
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type

from core.backoff import Backoff
from core.providers.errors import ProviderError, ProviderRetryableError

if TYPE_CHECKING:
    from core.config import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    backoff_initial_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    retry_after_max_seconds: float = 60.0
    total_seconds: float = 120.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            max_attempts=max(1, settings.provider_max_attempts),
            backoff_initial_seconds=settings.provider_backoff_initial_seconds,
            backoff_max_seconds=settings.provider_backoff_max_seconds,
            retry_after_max_seconds=settings.provider_retry_after_max_seconds,
            total_seconds=settings.provider_retry_budget_seconds,
        )

    @property
    def backoff(self) -> Backoff:
        return Backoff(initial=self.backoff_initial_seconds, cap=self.backoff_max_seconds, jitter=(0.0, 1.0))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait, or ``None`` when it did not say (or said nonsense).

    ``retry-after-ms`` (OpenAI's, milliseconds) wins over ``retry-after``, which is either
    delta-seconds (fractions tolerated, as OpenAI sends them) or an HTTP date. A date in the past
    means "now" (0.0); negative, NaN or infinite values are ignored.
    """
    if not headers:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = _header(headers, name)
        if raw is None:
            continue
        try:
            seconds = float(raw.strip()) / divisor
        except ValueError:
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    raw = _header(headers, "retry-after")
    if raw is None:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:  # RFC 9110 dates are GMT; a naive result means "-0000"
        return None
    current = time.time() if now is None else now
    return max(0.0, parsed.timestamp() - current)


class _Wait:
    """Retry-After when the server gave one, else full-jitter exponential backoff (``core.backoff``).

    A Retry-After beyond ``retry_after_max_seconds`` is not waited for here: :class:`_Stop` ends the
    retries and the caller re-schedules."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._backoff = policy.backoff

    def __call__(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        retry_after = error.retry_after if isinstance(error, ProviderError) else None
        if retry_after is not None and retry_after > 0:
            return retry_after
        return self._backoff.delay(state.attempt_number)


class _Stop:
    """Stop on attempts spent, on a Retry-After beyond our cap, or when the next wait would end
    past the total budget (checked before sleeping, so the budget is a real bound)."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy

    def __call__(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self._policy.max_attempts:
            return True
        error = state.outcome.exception() if state.outcome else None
        if (
            isinstance(error, ProviderError)
            and error.retry_after is not None
            and error.retry_after > self._policy.retry_after_max_seconds
        ):
            return True
        # Waits already slept count even when ``sleep`` does not really sleep (tests, simulations).
        spent = max(state.seconds_since_start or 0.0, state.idle_for)
        return spent + state.upcoming_sleep > self._policy.total_seconds


def call_with_retry(
    operation: str,
    attempt: Callable[[int, ProviderError | None], T],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``attempt(n, previous_error)`` until it returns, raises a final error, or the policy
    stops; the last error is re-raised as it is.

    ``attempt`` gets the attempt number and the error that ended the previous attempt, so a
    non-idempotent call (create, upload) can first look for what an ambiguous failure may have
    created anyway.
    """
    previous: list[ProviderError | None] = [None]

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "provider call %s failed (attempt %d of %d: %s); retrying in %.2fs",
            operation,
            state.attempt_number,
            policy.max_attempts,
            error,
            state.upcoming_sleep,
        )

    retrying = Retrying(
        retry=retry_if_exception_type(ProviderRetryableError),
        wait=_Wait(policy),
        stop=_Stop(policy),
        sleep=sleep,
        reraise=True,
        before_sleep=before_sleep,
    )
    for manager in retrying:
        with manager:
            number = manager.retry_state.attempt_number
            try:
                return attempt(number, previous[0])
            except ProviderError as error:
                previous[0] = error
                raise
    raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover
