"""``/v1/jobs/{id}/stream``: server-sent events of a job's transitions, events and metrics, live, with
``Last-Event-ID`` resume, behind the same tenant wall."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.config import Settings
from core.jobs import transition
from core.models import Job, JobEvent, JobMetric, utcnow
from core.states import JobStatus
from finetuner import FineTuner
from finetuner.client.models import StreamMessage
from finetuner.client.transport import SSEDecoder
from tests.fixtures.api import TenantKey, chat_jsonl, create_job, upload_dataset


@pytest.fixture
def api_settings(api_settings: Settings) -> Settings:
    return api_settings.model_copy(update={"stream_poll_seconds": 0.05})


def _move(session: Session, job_id: str, *path: JobStatus) -> None:
    job = session.get(Job, job_id)
    assert job is not None
    for status in path:
        transition(session, job, status, reason="test", actor="worker")
    session.commit()


def _add_rows(session: Session, tenant: TenantKey, job_id: str, *, events: int, metrics: int, first: int = 1) -> None:
    for n in range(first, first + events):
        session.add(JobEvent(job_id=job_id, tenant_id=tenant.tenant_id, provider_event_id=f"ev{n}",
                             message=f"event {n}", created_at=utcnow()))
    for step in range(first, first + metrics):
        session.add(JobMetric(job_id=job_id, tenant_id=tenant.tenant_id, step=step, train_loss=1.0 / step, data={}))
    session.commit()


def _read_all(client: TestClient, job_id: str, headers: dict[str, str] | None = None) -> list[StreamMessage]:
    with client.stream("GET", f"/v1/jobs/{job_id}/stream", headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(SSEDecoder().decode(response.iter_lines()))


@pytest.fixture
def finished_job(auth_client: TestClient, db_session: Session, tenant: TenantKey) -> str:
    job_id = str(create_job(auth_client, upload_dataset(auth_client, chat_jsonl(12))["id"])["id"])
    _move(db_session, job_id, JobStatus.UPLOADING, JobStatus.SUBMITTING, JobStatus.VALIDATING_FILES,
          JobStatus.RUNNING)
    _add_rows(db_session, tenant, job_id, events=3, metrics=4)
    _move(db_session, job_id, JobStatus.SUCCEEDED)
    return job_id


def test_a_finished_jobs_stream_replays_its_history_then_ends(auth_client: TestClient, finished_job: str) -> None:
    messages = _read_all(auth_client, finished_job)

    kinds = [m.event for m in messages]
    assert kinds.count("transition") == 6 and kinds.count("event") == 3 and kinds.count("metric") == 4
    assert kinds[-1] == "end" and messages[-1].data["status"] == "succeeded"
    assert [m.data["to_status"] for m in messages if m.event == "transition"][-1] == "succeeded"
    assert [m.data["step"] for m in messages if m.event == "metric"] == [1, 2, 3, 4]
    ids = [tuple(int(x) for x in (m.id or "").split(".")) for m in messages]
    assert ids == sorted(ids), f"cursors must never go back: {ids}"


def test_last_event_id_resumes_after_what_the_client_saw(auth_client: TestClient, finished_job: str) -> None:
    everything = [m for m in _read_all(auth_client, finished_job) if m.event in ("transition", "event", "metric")]
    seen = everything[7]

    resumed = [m for m in _read_all(auth_client, finished_job, headers={"Last-Event-ID": seen.id or ""})
               if m.event in ("transition", "event", "metric")]

    assert [(m.event, m.id) for m in resumed] == [(m.event, m.id) for m in everything[8:]]


def test_a_bad_last_event_id_is_400_and_a_foreign_job_404(auth_client: TestClient, other_client: TestClient,
                                                        finished_job: str) -> None:
    bad = auth_client.get(f"/v1/jobs/{finished_job}/stream", headers={"Last-Event-ID": "jev_1"})
    assert bad.status_code == 400 and "Last-Event-ID" in bad.text
    assert other_client.get(f"/v1/jobs/{finished_job}/stream").status_code == 404


def _in_thread(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_rows_written_while_a_client_listens_arrive_live_and_the_stream_ends_with_the_job(
        live_api: str, auth_client: TestClient, db_session: Session, tenant: TenantKey) -> None:
    job_id = str(create_job(auth_client, upload_dataset(auth_client, chat_jsonl(12))["id"])["id"])
    _move(db_session, job_id, JobStatus.UPLOADING, JobStatus.SUBMITTING, JobStatus.VALIDATING_FILES,
          JobStatus.RUNNING)
    received: list[StreamMessage] = []

    def listen() -> None:
        with FineTuner(base_url=live_api, api_key=tenant.key) as ft:
            received.extend(ft.stream(job_id))

    listener = _in_thread(listen)
    deadline = time.monotonic() + 10
    while not any(m.event == "job" for m in received) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert any(m.event == "job" for m in received), "the stream sent nothing"
    _add_rows(db_session, tenant, job_id, events=1, metrics=1, first=100)
    while not any(m.event == "event" for m in received) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [m.data["message"] for m in received if m.event == "event"] == ["event 100"], "no live event"
    _move(db_session, job_id, JobStatus.SUCCEEDED)
    listener.join(timeout=10)

    assert not listener.is_alive(), "the stream did not end when the job did"
    assert received[-1].event == "end" and received[-1].data["status"] == "succeeded"
    assert [m.data["step"] for m in received if m.event == "metric"] == [100]
