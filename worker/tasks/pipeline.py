"""The advance task: a nudge to move one job along (``core.pipeline`` does the work).

The API defers it after creating or cancelling a job; the reconciler re-sends it for stuck jobs.
It can arrive twice, late, or for a job already past the step it was meant for: the pipeline
re-reads the row and does only what the row's state calls for.
"""

from __future__ import annotations

import logging

from celery import Task

from core.pipeline import OutcomeKind
from core.tasknames import TaskName
from worker import runtime
from worker.celery_app import task

log = logging.getLogger(__name__)


@task(TaskName.ADVANCE_JOB, bind=True, max_retries=None)
def advance_job(self: Task, job_id: str) -> str:
    """Retries only for retryable provider errors, with the pipeline's bounded backoff; the job's
    attempt ceiling (on the row) is what ends them, so no Celery retry limit is needed."""
    outcome = runtime.pipeline().advance(job_id)
    if outcome.kind is OutcomeKind.RETRY:
        raise self.retry(countdown=outcome.retry_in)
    if outcome.kind is OutcomeKind.MISSING:
        log.warning("advance: no job %s", job_id)
    return str(outcome.kind)
