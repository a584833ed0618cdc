"""The one backoff policy, with each caller's parameters: what each kind of retry waits."""

from __future__ import annotations

import pytest

from core.backoff import Backoff
from core.config import Settings
from core.pipeline import advance_backoff
from core.providers.retry import RetryPolicy
from core.webhooks import redelivery_backoff

DRAWS = 200


def test_the_ceiling_grows_by_the_factor_and_stops_at_the_cap() -> None:
    backoff = Backoff(initial=0.5, cap=3.0)
    assert [backoff.ceiling(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_a_longer_retry_after_is_honoured_and_a_limit_bounds_it() -> None:
    assert Backoff(initial=0.01, cap=0.01).delay(1, retry_after=7.5) == 7.5
    assert Backoff(initial=0.01, cap=0.01, limit=5.0).delay(1, retry_after=7.5) == 5.0


def test_provider_calls_use_full_jitter_below_the_exponential_ceiling() -> None:
    backoff = RetryPolicy(backoff_initial_seconds=0.5, backoff_max_seconds=30.0).backoff
    waits = [backoff.delay(3) for _ in range(DRAWS)]
    assert all(0.0 <= w <= 2.0 for w in waits) and min(waits) < 1.0, "uniform over (0, 0.5 * 2^2)"


def test_a_jobs_next_advance_waits_at_least_half_its_ceiling_and_never_past_the_broker_limit() -> None:
    backoff = advance_backoff(max_retry_delay=60.0)
    waits = [backoff.delay(3) for _ in range(DRAWS)]
    assert all(4.0 <= w <= 8.0 for w in waits), "equal jitter over (8/2, 8)"
    assert backoff.delay(1) >= 1.0, "never below a second"
    assert backoff.delay(20, retry_after=3600.0) == 60.0, "kept under the visibility timeout"


@pytest.mark.parametrize(("attempt", "expected"), [(1, 5.0), (2, 20.0), (3, 80.0), (12, 4 * 3600.0)])
def test_webhook_redelivery_grows_by_four_up_to_four_hours_within_ten_percent(attempt: int, expected: float) -> None:
    backoff = redelivery_backoff(Settings(webhook_retry_base_seconds=5.0))
    for _ in range(DRAWS // 10):
        assert expected * 0.9 <= backoff.delay(attempt) <= expected * 1.1
