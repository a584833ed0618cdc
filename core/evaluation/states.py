"""An evaluation's statuses and the one table of allowed moves (like ``core.states`` for jobs)."""

from __future__ import annotations

from enum import StrEnum


class EvaluationStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


E = EvaluationStatus
TERMINAL: frozenset[EvaluationStatus] = frozenset({E.SUCCEEDED, E.FAILED, E.CANCELLED})
ACTIVE: frozenset[EvaluationStatus] = frozenset({E.QUEUED, E.RUNNING})
ALLOWED: dict[EvaluationStatus, frozenset[EvaluationStatus]] = {
    E.QUEUED: frozenset({E.RUNNING, E.FAILED, E.CANCELLED}),
    E.RUNNING: frozenset({E.SUCCEEDED, E.FAILED, E.CANCELLED}),
    E.SUCCEEDED: frozenset(),
    E.FAILED: frozenset(),
    E.CANCELLED: frozenset(),
}
EVENT_TYPES = tuple(f"evaluation.{status.value}" for status in EvaluationStatus)


def is_allowed(current: EvaluationStatus, target: EvaluationStatus) -> bool:
    return target in ALLOWED[current]
