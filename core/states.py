"""The job state machine of DESIGN §3: the one table of allowed moves.

``pending``…``submitting`` are ours; from ``validating_files`` on the state mirrors the provider's.
Forward skips in the provider's part are allowed (a poll may see ``running`` right after
``submitting``); ``paused`` is the one loop. Anything not in the table is forbidden.
"""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    PENDING = "pending"
    UPLOADING = "uploading"
    SUBMITTING = "submitting"
    VALIDATING_FILES = "validating_files"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


S = JobStatus
TERMINAL: frozenset[JobStatus] = frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED})
ACTIVE: frozenset[JobStatus] = frozenset(set(JobStatus) - TERMINAL)
# States in which the provider holds the job and the sweep must follow it.
AT_PROVIDER: frozenset[JobStatus] = frozenset({S.VALIDATING_FILES, S.QUEUED, S.RUNNING, S.PAUSED, S.CANCELLING})
# States that belong to our own pipeline, before the provider has the job.
OURS: frozenset[JobStatus] = frozenset({S.PENDING, S.UPLOADING, S.SUBMITTING})

_ALWAYS = frozenset({S.FAILED, S.CANCELLING})

ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    S.PENDING: frozenset({S.UPLOADING}) | _ALWAYS,
    S.UPLOADING: frozenset({S.SUBMITTING}) | _ALWAYS,
    S.SUBMITTING: frozenset({S.VALIDATING_FILES, S.QUEUED, S.RUNNING, S.SUCCEEDED}) | _ALWAYS,
    S.VALIDATING_FILES: frozenset({S.QUEUED, S.RUNNING, S.SUCCEEDED}) | _ALWAYS,
    S.QUEUED: frozenset({S.RUNNING, S.PAUSED, S.SUCCEEDED}) | _ALWAYS,
    S.RUNNING: frozenset({S.PAUSED, S.SUCCEEDED}) | _ALWAYS,
    S.PAUSED: frozenset({S.QUEUED, S.RUNNING, S.SUCCEEDED}) | _ALWAYS,
    S.CANCELLING: frozenset({S.CANCELLED, S.SUCCEEDED, S.FAILED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}


def is_allowed(current: JobStatus, target: JobStatus) -> bool:
    return target in ALLOWED[current]


def is_terminal(status: JobStatus | str) -> bool:
    return JobStatus(status) in TERMINAL


PROVIDER_STATUSES: dict[str, JobStatus] = {
    "validating_files": S.VALIDATING_FILES,
    "queued": S.QUEUED,
    "running": S.RUNNING,
    "paused": S.PAUSED,
    "succeeded": S.SUCCEEDED,
    "failed": S.FAILED,
    "cancelled": S.CANCELLED,
}


def from_provider(status: str) -> JobStatus:
    """Map a provider status string onto ours; unknown values raise so they are noticed."""
    try:
        return PROVIDER_STATUSES[status]
    except KeyError as exc:
        raise ValueError(f"unknown provider job status {status!r}") from exc
