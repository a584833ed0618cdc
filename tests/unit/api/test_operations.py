"""Operations: ``/metrics`` in Prometheus format (state gauges and moving counters) and JSON logs
that carry ``job_id`` / ``tenant_id`` with secrets still redacted."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from api.app import create_app
from core import logs, telemetry
from core.config import Settings
from core.jobs import transition
from core.models import Job
from core.providers.redaction import register_secret
from core.states import JobStatus
from tests.fixtures.api import SentTasks, chat_jsonl, create_job, upload_dataset


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_parse_and_count_jobs_by_status(api_client: TestClient, auth_client: TestClient,
                                                db_session: Session) -> None:
    dataset_id = upload_dataset(auth_client, chat_jsonl(12))["id"]
    job_ids = [create_job(auth_client, dataset_id)["id"] for _ in range(3)]
    job = db_session.get(Job, job_ids[0])
    assert job is not None
    transition(db_session, job, JobStatus.FAILED, reason="test", actor="worker")
    db_session.commit()

    response = api_client.get("/metrics")

    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    assert samples[("finetuner_jobs", (("status", "pending"),))] == 2
    assert samples[("finetuner_jobs", (("status", "failed"),))] == 1
    assert samples[("finetuner_jobs", (("status", "running"),))] == 0
    assert ("finetuner_webhook_deliveries_pending", ()) in samples
    names = {name for name, _ in samples}
    assert "finetuner_poll_pass_duration_seconds_count" in names


def test_counters_move_when_work_is_done(api_client: TestClient) -> None:
    before = _samples(api_client.get("/metrics").text)
    key = ("finetuner_provider_calls_total", (("operation", "get_job"), ("outcome", "retryable")))
    telemetry.PROVIDER_CALLS.labels("get_job", "retryable").inc()
    with telemetry.POLL_SECONDS.time():
        pass
    after = _samples(api_client.get("/metrics").text)
    assert after[key] == before.get(key, 0) + 1
    count = ("finetuner_poll_pass_duration_seconds_count", ())
    assert after[count] == before[count] + 1


@pytest.fixture
def guarded_app(api_settings: Settings, sent_tasks: SentTasks) -> FastAPI:
    return create_app(api_settings.model_copy(update={"metrics_token": "scrape-secret"}), send_tasks=False)


def test_a_metrics_token_when_set_is_required(guarded_app: FastAPI) -> None:
    with TestClient(guarded_app) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"}).status_code == 200


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.ContextFilter())
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_a_job_state_change_logs_a_json_line_with_its_job_and_tenant(
        json_lines: io.StringIO, auth_client: TestClient, db_session: Session) -> None:
    job_id = create_job(auth_client, upload_dataset(auth_client, chat_jsonl(12))["id"])["id"]
    job = db_session.get(Job, job_id)
    assert job is not None
    transition(db_session, job, JobStatus.UPLOADING, reason="test", actor="worker")

    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    moved = [line for line in lines if "pending -> uploading" in line["message"]]
    assert moved, lines
    assert moved[0]["job_id"] == job_id and moved[0]["tenant_id"] == job.tenant_id
    assert moved[0]["level"] == "info" and moved[0]["ts"].endswith("Z")


def test_bound_context_reaches_every_line_and_secrets_stay_redacted(json_lines: io.StringIO) -> None:
    secret = "sk-proj-" + "Q" * 40
    register_secret(secret)
    with logs.bind(job_id="job_abc", tenant_id="ten_1"):
        logging.getLogger("finetuner.test").warning("provider said %s", f"bad key {secret}")
    logging.getLogger("finetuner.test").warning("outside")

    inside, outside = (json.loads(line) for line in json_lines.getvalue().splitlines()[-2:])
    assert inside["job_id"] == "job_abc" and inside["tenant_id"] == "ten_1"
    assert secret not in json_lines.getvalue(), "a registered secret reached the JSON log"
    assert "job_id" not in outside
