"""The state table of DESIGN §3, checked move by move."""

from __future__ import annotations

import pytest

from core.states import ALLOWED, TERMINAL, JobStatus, from_provider, is_allowed

S = JobStatus


def test_terminal_states_never_change() -> None:
    for status in TERMINAL:
        assert ALLOWED[status] == frozenset(), f"{status} must allow no move"


def test_every_non_terminal_state_can_fail() -> None:
    for status in set(JobStatus) - TERMINAL:
        assert is_allowed(status, S.FAILED), f"{status} -> failed must be allowed"


def test_every_non_terminal_state_can_be_cancelled_through_cancelling() -> None:
    for status in set(JobStatus) - TERMINAL - {S.CANCELLING}:
        assert is_allowed(status, S.CANCELLING)
        assert not is_allowed(status, S.CANCELLED), f"{status} must pass through cancelling"
    assert is_allowed(S.CANCELLING, S.CANCELLED)


def test_cancelling_may_end_in_success_or_failure_when_the_job_ended_first() -> None:
    assert is_allowed(S.CANCELLING, S.SUCCEEDED)
    assert is_allowed(S.CANCELLING, S.FAILED)
    assert not is_allowed(S.CANCELLING, S.RUNNING)


def test_our_part_moves_strictly_one_step_at_a_time() -> None:
    assert is_allowed(S.PENDING, S.UPLOADING)
    assert not is_allowed(S.PENDING, S.SUBMITTING)
    assert is_allowed(S.UPLOADING, S.SUBMITTING)
    assert not is_allowed(S.UPLOADING, S.QUEUED)


def test_provider_part_allows_forward_skips() -> None:
    assert is_allowed(S.SUBMITTING, S.RUNNING)
    assert is_allowed(S.VALIDATING_FILES, S.SUCCEEDED)
    assert is_allowed(S.QUEUED, S.SUCCEEDED)


@pytest.mark.parametrize(
    ("current", "stale"),
    [(S.RUNNING, S.QUEUED), (S.RUNNING, S.VALIDATING_FILES), (S.QUEUED, S.VALIDATING_FILES),
     (S.SUBMITTING, S.UPLOADING), (S.VALIDATING_FILES, S.PENDING)],
)
def test_backward_moves_are_forbidden(current: JobStatus, stale: JobStatus) -> None:
    assert not is_allowed(current, stale)


def test_pause_is_the_one_loop() -> None:
    assert is_allowed(S.QUEUED, S.PAUSED)
    assert is_allowed(S.RUNNING, S.PAUSED)
    assert is_allowed(S.PAUSED, S.QUEUED)
    assert not is_allowed(S.VALIDATING_FILES, S.PAUSED)


def test_provider_statuses_map_and_unknown_ones_raise() -> None:
    assert from_provider("validating_files") is S.VALIDATING_FILES
    assert from_provider("paused") is S.PAUSED
    with pytest.raises(ValueError, match="unknown provider job status"):
        from_provider("exploded")
