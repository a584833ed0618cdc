"""Pause and resume go to the provider (here the emulator over HTTP) and our state follows its answer."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.config import get_settings
from core.jobs import transition
from core.models import Job
from core.providers import reset_providers
from core.states import JobStatus
from emulator import EmulatorSettings
from emulator import create_app as create_emulator
from tests.fixtures.api import chat_jsonl, create_job, serve_asgi, upload_dataset

pytestmark = pytest.mark.integration
EMULATOR_KEY = "sk-emulator-test"


@pytest.fixture
def emulator_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An emulator on a real port, and the process's provider pointed at it."""
    with serve_asgi(create_emulator(EmulatorSettings(api_key=EMULATOR_KEY)), "emulator") as url:
        monkeypatch.setenv("OPENAI_BASE_URL", url)
        monkeypatch.setenv("OPENAI_API_KEY", EMULATOR_KEY)
        get_settings.cache_clear()
        reset_providers()
        yield url
    reset_providers()
    monkeypatch.undo()
    get_settings.cache_clear()


def _job_at_provider(client: TestClient, session: Session, emulator_url: str, provider_status: str) -> str:
    """Our job, moved as the worker would to ``queued``, tied to a held emulator job in ``provider_status``."""
    seeded = httpx.post(f"{emulator_url}/_emulator/jobs", json={"status": provider_status, "hold": True},
                        headers={"Authorization": f"Bearer {EMULATOR_KEY}"})
    assert seeded.status_code == 200, seeded.text
    job_id = str(create_job(client, upload_dataset(client, chat_jsonl())["id"])["id"])
    job = session.get(Job, job_id)
    assert job is not None
    job.provider_job_id = seeded.json()["id"]
    for status in (JobStatus.UPLOADING, JobStatus.SUBMITTING, JobStatus.QUEUED):
        transition(session, job, status, reason="test", actor="worker")
    session.commit()
    return job_id


def test_pause_then_resume_a_queued_job(auth_client: TestClient, db_session: Session, emulator_url: str) -> None:
    job_id = _job_at_provider(auth_client, db_session, emulator_url, "queued")
    paused = auth_client.post(f"/v1/jobs/{job_id}/pause")
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused"
    assert auth_client.post(f"/v1/jobs/{job_id}/pause").status_code == 409, "already paused"
    resumed = auth_client.post(f"/v1/jobs/{job_id}/resume")
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "queued"
    moves = [(t["from_status"], t["to_status"], t["actor"])
             for t in auth_client.get(f"/v1/jobs/{job_id}/transitions").json()["data"]][-2:]
    assert moves == [("queued", "paused", "api"), ("paused", "queued", "api")]


def test_pause_the_provider_refuses_is_409_and_changes_nothing(auth_client: TestClient, db_session: Session,
                                                               emulator_url: str) -> None:
    job_id = _job_at_provider(auth_client, db_session, emulator_url, "succeeded")  # our row lags behind
    response = auth_client.post(f"/v1/jobs/{job_id}/pause")
    assert response.status_code == 409, response.text
    assert "provider refused" in response.json()["error"]["message"]
    assert auth_client.get(f"/v1/jobs/{job_id}").json()["status"] == "queued"
