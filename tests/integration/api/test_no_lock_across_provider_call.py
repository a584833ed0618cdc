"""No job row is locked while a provider call is in flight (PostgreSQL, where row locks are real).

Pause and resume are made while a client waits. If the request held the job's row lock across the
call, a worker's claim (``SELECT … FOR UPDATE SKIP LOCKED``) would skip the job for as long as the
provider took, and every retry of the call would stretch that. The provider here blocks on an
event until the test has tried to claim the job.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.claims import claim_job
from core.jobs import transition
from core.models import Job
from core.providers import ProviderJob
from core.states import JobStatus
from tests.fixtures.api import create_job, upload_dataset

pytestmark = pytest.mark.integration
WAIT_SECONDS = 20.0


class BlockingProvider:
    """Answers pause/resume only once ``release`` is set; ``in_flight`` says a call has started."""

    name = "openai"

    def __init__(self) -> None:
        self.in_flight = threading.Event()
        self.release = threading.Event()

    def _answer(self, job_id: str, status: str) -> ProviderJob:
        self.in_flight.set()
        assert self.release.wait(WAIT_SECONDS), "the test never released the provider call"
        return ProviderJob(id=job_id, status=status, model="gpt-4o-mini-2024-07-18", fine_tuned_model=None,
                           error=None, hyperparameters={}, method=None, trained_tokens=None,
                           created_at=dt.datetime.now(dt.UTC), finished_at=None, estimated_finish=None,
                           metadata={}, result_files=[], training_file="file-x", validation_file=None, seed=None)

    def pause_job(self, job_id: str) -> ProviderJob:
        return self._answer(job_id, "paused")

    def resume_job(self, job_id: str) -> ProviderJob:
        return self._answer(job_id, "queued")


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[BlockingProvider]:
    stub = BlockingProvider()
    monkeypatch.setattr("core.providers.get_provider", lambda _name=None: stub)
    yield stub
    stub.release.set()


def _queued_job(client: TestClient, session: Session) -> str:
    job_id = str(create_job(client, upload_dataset(client)["id"])["id"])
    job = session.get(Job, job_id)
    assert job is not None
    job.provider_job_id = "ftjob-blocking"
    for status in (JobStatus.UPLOADING, JobStatus.SUBMITTING, JobStatus.QUEUED):
        transition(session, job, status, reason="test", actor="worker")
    session.commit()
    return job_id


@pytest.mark.parametrize("action", ["pause", "resume"])
def test_a_worker_can_claim_the_job_while_its_pause_or_resume_call_is_at_the_provider(
    action: str, api_app: FastAPI, auth_client: TestClient, db_session: Session, provider: BlockingProvider,
    tmp_path: Path,
) -> None:
    assert api_app.state.sessionmaker.kw["bind"].dialect.name == "postgresql", "row locks are PostgreSQL's"
    job_id = _queued_job(auth_client, db_session)
    if action == "resume":
        job = db_session.get(Job, job_id)
        assert job is not None
        transition(db_session, job, JobStatus.PAUSED, reason="test", actor="api")
        db_session.commit()
    with ThreadPoolExecutor(max_workers=1) as pool:
        request = pool.submit(auth_client.post, f"/v1/jobs/{job_id}/{action}")
        assert provider.in_flight.wait(WAIT_SECONDS), f"the {action} request never reached the provider"
        with api_app.state.sessionmaker() as session, claim_job(session, job_id, lock_dir=tmp_path) as claimed:
            got_claim = claimed is not None
            session.rollback()
        provider.release.set()
        response = request.result(timeout=WAIT_SECONDS)
    assert got_claim, f"the job's row was locked while the {action} call was at the provider"
    assert response.status_code == 200, response.text
    assert response.json()["status"] == ("paused" if action == "pause" else "queued")
