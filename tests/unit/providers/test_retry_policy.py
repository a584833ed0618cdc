"""Retry-After parsing and the retry loop's bounds (attempts, Retry-After cap, total budget)."""

from __future__ import annotations

import email.utils
from collections.abc import Callable

import pytest

from core.providers.errors import ProviderError, ProviderFinalError, ProviderRetryableError
from core.providers.retry import RetryPolicy, call_with_retry, parse_retry_after

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"Retry-After-Ms": "abc", "retry-after": "2"}, 2.0),
        ({"retry-after": email.utils.formatdate(NOW + 7, usegmt=True)}, 7.0),
        ({"retry-after": email.utils.formatdate(NOW - 60, usegmt=True)}, 0.0),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "-5"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "soon"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_retry_after_headers_are_read_like_the_sdk_reads_them(
    headers: dict[str, str] | None, expected: float | None
) -> None:
    result = parse_retry_after(headers, now=NOW)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


POLICY = RetryPolicy(
    max_attempts=4, backoff_initial_seconds=0.1, backoff_max_seconds=1.0, retry_after_max_seconds=10.0,
    total_seconds=60.0,
)


Attempt = Callable[[int, ProviderError | None], str]


def failing(errors: list[ProviderError], result: str = "ok") -> tuple[Attempt, list[tuple[int, ProviderError | None]]]:
    """An attempt function that raises the given errors in order, then returns ``result``."""
    seen: list[tuple[int, ProviderError | None]] = []

    def attempt(number: int, previous: ProviderError | None) -> str:
        seen.append((number, previous))
        if errors:
            raise errors.pop(0)
        return result

    return attempt, seen


def test_retryable_errors_are_retried_until_success_with_backoff_within_bounds() -> None:
    sleeps: list[float] = []
    attempt, seen = failing([ProviderRetryableError("boom", status_code=500)] * 2)
    assert call_with_retry("op", attempt, POLICY, sleep=sleeps.append) == "ok"
    assert [n for n, _ in seen] == [1, 2, 3]
    assert len(sleeps) == 2 and all(0 <= s <= POLICY.backoff_max_seconds for s in sleeps)
    assert seen[1][1] is not None and seen[1][1].status_code == 500, "the next attempt sees why the last one failed"


def test_retry_after_is_waited_exactly_instead_of_the_backoff() -> None:
    sleeps: list[float] = []
    attempt, _ = failing([ProviderRetryableError("slow down", status_code=429, retry_after=3.5)])
    call_with_retry("op", attempt, POLICY, sleep=sleeps.append)
    assert sleeps == [3.5]


def test_retry_after_beyond_the_cap_goes_back_to_the_caller_at_once() -> None:
    sleeps: list[float] = []
    attempt, seen = failing([ProviderRetryableError("come back later", status_code=429, retry_after=3600)])
    with pytest.raises(ProviderRetryableError) as caught:
        call_with_retry("op", attempt, POLICY, sleep=sleeps.append)
    assert caught.value.retry_after == 3600, "the caller needs the wait to re-schedule"
    assert sleeps == [] and len(seen) == 1


def test_final_errors_are_never_retried() -> None:
    sleeps: list[float] = []
    attempt, seen = failing([ProviderFinalError("bad request", status_code=400)])
    with pytest.raises(ProviderFinalError):
        call_with_retry("op", attempt, POLICY, sleep=sleeps.append)
    assert len(seen) == 1 and sleeps == []


def test_attempts_are_bounded_and_the_last_error_is_raised_as_is() -> None:
    errors: list[ProviderError] = [ProviderRetryableError(f"fail {i}", status_code=503) for i in range(10)]
    attempt, seen = failing(errors)
    with pytest.raises(ProviderRetryableError, match="fail 3"):
        call_with_retry("op", attempt, POLICY, sleep=lambda _: None)
    assert len(seen) == POLICY.max_attempts


def test_total_budget_stops_before_a_wait_that_would_overrun_it() -> None:
    policy = RetryPolicy(max_attempts=10, retry_after_max_seconds=30.0, total_seconds=10.0)
    sleeps: list[float] = []
    attempt, seen = failing([ProviderRetryableError("busy", status_code=429, retry_after=4.0)] * 5)
    with pytest.raises(ProviderRetryableError):
        call_with_retry("op", attempt, policy, sleep=sleeps.append)
    assert sleeps == [4.0, 4.0], "a third 4 s wait would end past the 10 s budget, so it is not started"
    assert len(seen) == 3
