"""What is new on a job since a cursor: the read behind ``/v1/jobs/{id}/stream``.

A job's transitions, events and metrics each have their own integer ids (insert order), so "what
the client has seen" is three numbers. The stream sends that triple as each message's SSE ``id``;
a client that reconnects with ``Last-Event-ID`` resumes exactly where it stopped, with nothing
missed and nothing repeated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from core.errors import BadRequest
from core.models import Job, JobEvent, JobMetric, JobTransition
from core.scoping import get_owned, owned, page
from core.states import TERMINAL, JobStatus

BATCH = 1000
_CURSOR = re.compile(r"^(\d{1,18})\.(\d{1,18})\.(\d{1,18})$")


@dataclass(frozen=True)
class Cursor:
    transition: int = 0
    event: int = 0
    metric: int = 0

    def text(self) -> str:
        return f"{self.transition}.{self.event}.{self.metric}"

    @classmethod
    def parse(cls, value: str | None) -> Cursor:
        if not value:
            return cls()
        match = _CURSOR.match(value.strip())
        if match is None:
            raise BadRequest(f"Last-Event-ID must look like '<transition>.<event>.<metric>', not {value!r}",
                             details={"param": "Last-Event-ID"})
        return cls(*(int(group) for group in match.groups()))


@dataclass
class Batch:
    job: Job
    transitions: list[JobTransition] = field(default_factory=list)
    events: list[JobEvent] = field(default_factory=list)
    metrics: list[JobMetric] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.transitions or self.events or self.metrics)

    @property
    def finished(self) -> bool:
        return JobStatus(self.job.status) in TERMINAL


def read_since(session: Session, tenant_id: str, job_id: str, cursor: Cursor, *, limit: int = BATCH) -> Batch:
    """The job and up to ``limit`` new rows of each kind after ``cursor``, oldest first."""
    job = get_owned(session, Job, tenant_id, job_id)
    batch = Batch(job=job)
    batch.transitions, _ = page(session, owned(JobTransition, tenant_id).where(JobTransition.job_id == job_id),
                                JobTransition.id, limit=limit, after=cursor.transition or None, newest_first=False)
    batch.events, _ = page(session, owned(JobEvent, tenant_id).where(JobEvent.job_id == job_id), JobEvent.id,
                           limit=limit, after=cursor.event or None, newest_first=False)
    batch.metrics, _ = page(session, owned(JobMetric, tenant_id).where(JobMetric.job_id == job_id), JobMetric.id,
                            limit=limit, after=cursor.metric or None, newest_first=False)
    return batch
