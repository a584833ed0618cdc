"""No job sits forever: past the ceiling it is ended with a clear reason, never forgotten at the provider."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from core import dispatch
from core.ceiling import CEILING_CODE, enforce_ceiling
from core.models import Dataset, Job, Tenant
from core.tasknames import TaskName

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
CEILING = dt.timedelta(hours=24)


@pytest.fixture
def session(sqlite_session: Session) -> Session:
    return sqlite_session


def _job(session: Session, status: str, *, idle_hours: float) -> Job:
    tenant = session.query(Tenant).first()
    if tenant is None:
        tenant = Tenant(name="t")
        session.add(tenant)
        session.flush()
        session.add(Dataset(id="ds_1", tenant_id=tenant.id, name="d", sha256="c" * 64, bytes=1, format="chat",
                            status="valid", report={}))
    job = Job(tenant_id=tenant.id, model="gpt-4o-mini", training_dataset_id="ds_1", status=status,
              status_changed_at=NOW - dt.timedelta(hours=idle_hours))
    session.add(job)
    session.flush()
    return job


def test_stuck_jobs_are_ended_and_provider_held_ones_cancelled_there(session: Session) -> None:
    sent: list[tuple[str, dict[str, object]]] = []
    dispatch.set_sender(lambda name, kwargs: sent.append((name, kwargs)))
    try:
        pending = _job(session, "pending", idle_hours=30)
        submitting = _job(session, "submitting", idle_hours=30)
        queued = _job(session, "queued", idle_hours=25)
        cancelling = _job(session, "cancelling", idle_hours=48)
        fresh = _job(session, "queued", idle_hours=2)
        training = _job(session, "running", idle_hours=200)
        done = _job(session, "succeeded", idle_hours=500)
        ended = enforce_ceiling(session, now=NOW, ceiling=CEILING)
        session.commit()
    finally:
        dispatch.set_sender(None)
    assert set(ended) == {pending.id, submitting.id, queued.id, cancelling.id}
    assert pending.status == "failed" and pending.error is not None and pending.error["code"] == CEILING_CODE
    assert "no progress for over 24 h while pending" in pending.error["message"]
    assert cancelling.status == "failed"
    assert submitting.status == "cancelling" and queued.status == "cancelling", \
        "a job the provider may hold must be cancelled there, not forgotten"
    assert sorted(str(kwargs["job_id"]) for name, kwargs in sent if name == TaskName.ADVANCE_JOB) == sorted(
        [submitting.id, queued.id])
    assert fresh.status == "queued" and done.status == "succeeded"
    assert training.status == "running", "a long training run progresses through metrics, not status"
