"""The ceiling: no job sits forever.

A job that has made no progress (no status change) for longer than ``job_ceiling_hours`` is ended
with a clear reason. Where the provider may hold a paid job (``submitting`` onwards) we cannot just
forget it, so the job is moved to ``cancelling`` and the pipeline cancels it there (finding it by
its tag if need be); where it cannot (``pending``, ``uploading``), or where a cancel itself never
came back, the job is marked ``failed`` with ``error.code = "exceeded_ceiling"``.

``running`` is exempt (a long training run shows its progress as metrics, not status changes),
and so is ``paused``, which a client chose.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import dispatch
from core.claims import skip_locked
from core.jobs import transition
from core.models import Job, job_error
from core.states import TERMINAL, JobStatus
from core.tasknames import TaskName

log = logging.getLogger(__name__)

CEILING_CODE = "exceeded_ceiling"
_FAIL_DIRECTLY = frozenset({JobStatus.PENDING, JobStatus.UPLOADING, JobStatus.CANCELLING})
_EXEMPT = frozenset({JobStatus.RUNNING, JobStatus.PAUSED})


def enforce_ceiling(session: Session, *, now: dt.datetime, ceiling: dt.timedelta, limit: int = 200) -> list[str]:
    """End jobs stuck past the ceiling; returns their ids. The caller commits."""
    query = (select(Job).where(Job.status.not_in([s.value for s in TERMINAL | _EXEMPT]),
                               Job.status_changed_at < now - ceiling)
             .order_by(Job.status_changed_at).limit(limit))
    query = skip_locked(session, query)  # a job a worker is advancing right now is not stuck
    ended = []
    for job in session.scalars(query):
        status = job.status
        hours = ceiling.total_seconds() / 3600
        reason = f"no progress for over {hours:g} h while {status.value} (the job ceiling)"
        if status in _FAIL_DIRECTLY:
            job.error = job_error(CEILING_CODE, reason)
            transition(session, job, JobStatus.FAILED, reason=reason, actor="reconciler")
        else:
            transition(session, job, JobStatus.CANCELLING, reason=reason, actor="reconciler")
            dispatch.defer(session, TaskName.ADVANCE_JOB, job_id=job.id)
        log.warning("job %s: %s", job.id, reason)
        ended.append(job.id)
    return ended
