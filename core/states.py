"""The job state machine of DESIGN §3: the one table of allowed moves.

``pending``…``submitting`` are ours; from ``validating_files`` on the state mirrors the provider's.
Forward skips in the provider's part are allowed (a poll may see ``running`` right after
``submitting``); ``paused`` is the one loop. Anything not in the table is forbidden.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, get_args


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
# States in which the provider holds the job and the poll must follow it.
AT_PROVIDER: frozenset[JobStatus] = frozenset({S.VALIDATING_FILES, S.QUEUED, S.RUNNING, S.PAUSED, S.CANCELLING})
# States that belong to our own pipeline, before the provider has the job: our code owes such a job
# its next step, so one parked in them is re-nudged by the reconciler.
OURS: frozenset[JobStatus] = frozenset({S.PENDING, S.UPLOADING, S.SUBMITTING})
# Where every job starts: the first transition row goes from nothing to this.
INITIAL: JobStatus = S.PENDING

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


def is_allowed(current: JobStatus | None, target: JobStatus) -> bool:
    """Whether the table allows ``current`` → ``target``; ``None`` is a job being created."""
    if current is None:
        return target == INITIAL
    return target in ALLOWED[current]


def is_terminal(status: JobStatus | str) -> bool:
    return JobStatus(status) in TERMINAL


# The provider's job statuses (OpenAI's ``FineTuningJob.status``), as typed as the SDK types them.
# Plus "cancelling": Together's cancel_requested (a cancel made at the provider, or ours not yet taken).
ProviderStatus = Literal["validating_files", "queued", "running", "paused", "cancelling", "succeeded", "failed",
                         "cancelled"]
PROVIDER_STATUSES: dict[ProviderStatus, JobStatus] = {status: JobStatus(status) for status in get_args(ProviderStatus)}


def is_provider_status(status: str | None) -> bool:
    return status in PROVIDER_STATUSES


def from_provider(status: str) -> JobStatus:
    """Map a provider status string onto ours; unknown values raise so they are noticed."""
    try:
        return PROVIDER_STATUSES[status]  # type: ignore[index]  # a str from the wire, checked here
    except KeyError as exc:
        raise ValueError(f"unknown provider job status {status!r}") from exc


def next_status(current: JobStatus | str, provider_status: str) -> JobStatus | None:
    """The one provider-status rule: where a job in ``current`` goes when the provider reports
    ``provider_status``, or ``None`` when the report changes nothing.

    ``None`` for: the status the job already has; any report about a finished job; a report that
    is not terminal while we are ``cancelling`` (the cancel has not taken yet: keep saying so); a
    stale report (an old webhook, a slow poll) that the table forbids because it would move the
    job backwards; and a status we do not know. The poll's skip check and the apply step both ask
    this, so what is skipped is exactly what would not be applied.
    """
    if not is_provider_status(provider_status):
        return None
    observed = from_provider(provider_status)
    status = JobStatus(current)
    if observed == status or status in TERMINAL:
        return None
    if status == S.CANCELLING and observed not in TERMINAL:
        return None
    return observed if is_allowed(status, observed) else None


class DatasetStatus(StrEnum):
    """A stored dataset either passed validation or did not (it is kept either way, DESIGN §8)."""

    VALID = "valid"
    INVALID = "invalid"


class DeliveryStatus(StrEnum):
    """A webhook delivery in the outbox: waiting (first try or a retry), done, or given up on."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class SweepStatus(StrEnum):
    """A hyperparameter sweep: starting and following its runs, then ended by how they went."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


SWEEP_TERMINAL: frozenset[SweepStatus] = frozenset({SweepStatus.SUCCEEDED, SweepStatus.FAILED, SweepStatus.CANCELLED})
