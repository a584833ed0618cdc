"""``finetuner.FineTuner`` and ``AsyncFineTuner`` against the API in-process: the seed's call shape,
typed results and errors, auto-paging, retries with ``Retry-After`` and one Idempotency-Key, ``wait``."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path
from typing import cast

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from rich.console import Console
from sqlalchemy import insert
from sqlalchemy.orm import Session

import finetuner
from core.jobs import transition
from core.models import Job, JobEvent, JobMetric, utcnow
from core.states import JobStatus
from finetuner import AsyncFineTuner, Conflict, FineTuner, Invalid, NotFound, ServerError, Unauthorized
from finetuner.client import sync_client
from finetuner.client.config import resolve
from finetuner.client.models import MetricSeries
from finetuner.client.transport import SSEDecoder
from tests.fixtures.api import TenantKey, chat_jsonl, upload_dataset

SUCCESS_PATH = (JobStatus.UPLOADING, JobStatus.SUBMITTING, JobStatus.VALIDATING_FILES, JobStatus.RUNNING,
                JobStatus.SUCCEEDED)


@pytest.fixture
def ft(auth_client: TestClient, tenant: TenantKey) -> FineTuner:
    return FineTuner(api_key=tenant.key, wandb_project="my-wandb-project", http_client=cast(httpx.Client, auth_client))


def _move(session: Session, job_id: str, *path: JobStatus) -> None:
    job = session.get(Job, job_id)
    assert job is not None
    for status in path:
        transition(session, job, status, reason="test", actor="worker")
    session.commit()


def test_the_package_exports_the_client_without_loading_it_for_the_cli() -> None:
    assert finetuner.FineTuner is FineTuner and finetuner.AsyncFineTuner is AsyncFineTuner
    with pytest.raises(AttributeError):
        _ = finetuner.NoSuchThing


def test_the_seed_call_creates_a_job_carrying_the_wandb_project(ft: FineTuner, auth_client: TestClient) -> None:
    train_file_id = upload_dataset(auth_client, chat_jsonl(12))["id"]
    valid_file_id = upload_dataset(auth_client, chat_jsonl(10, start=100), filename="valid.jsonl")["id"]

    job_id = ft.create_fine_tune_job(train_file_id, valid_file_id, base_model="gpt-4o-mini", n_epochs=1,
                                     suffix="pricer")

    assert isinstance(job_id, str) and job_id.startswith("job_")
    job = ft.get_job(job_id)
    assert job.status == "pending" and job.model == "gpt-4o-mini"
    assert job.training_dataset_id == train_file_id and job.validation_dataset_id == valid_file_id
    assert job.hyperparameters["n_epochs"] == 1 and job.suffix == "pricer"
    assert job.wandb == {"project": "my-wandb-project"}


def test_a_path_instead_of_an_id_is_uploaded_first(ft: FineTuner, tmp_path: Path) -> None:
    train = tmp_path / "train.jsonl"
    train.write_bytes(chat_jsonl(12))

    job = ft.get_job(ft.create_fine_tune_job(train, str(train), base_model="gpt-4o-mini", wandb={"project": "p2"}))

    dataset = ft.get_dataset(job.training_dataset_id)
    assert dataset.name == "train.jsonl" and dataset.num_examples == 12
    assert job.validation_dataset_id is not None and job.wandb == {"project": "p2"}, "explicit wandb wins"


def test_api_errors_arrive_as_typed_exceptions(ft: FineTuner, auth_client: TestClient, db_session: Session,
                                               tenant: TenantKey) -> None:
    with pytest.raises(NotFound) as missing:
        ft.get_job("job_nope")
    assert missing.value.status_code == 404 and "job_nope" in missing.value.message
    invalid = ft.upload_dataset(b'{"messages": "not a list"}\n', name="bad.jsonl")
    assert invalid.status == "invalid"
    with pytest.raises(Invalid) as refused:
        ft.create_fine_tune_job(invalid.id)
    assert "invalid" in refused.value.message and refused.value.details["param"] == "training_dataset_id"
    job_id = ft.create_fine_tune_job(upload_dataset(auth_client, chat_jsonl(12))["id"])
    _move(db_session, job_id, JobStatus.FAILED)
    with pytest.raises(Conflict):
        ft.cancel(job_id)
    with pytest.raises(Unauthorized):
        FineTuner(api_key="ftk_wrong", http_client=cast(httpx.Client, TestClient(auth_client.app))).get_job(job_id)


def test_list_jobs_pages_through_every_job_newest_first(ft: FineTuner, auth_client: TestClient,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sync_client, "LIST_PAGE", 2)
    dataset_id = upload_dataset(auth_client, chat_jsonl(12))["id"]
    created = [ft.create_fine_tune_job(dataset_id) for _ in range(5)]
    assert [job.id for job in ft.list_jobs()] == created[::-1]


def test_metrics_returns_every_point_past_one_page_and_max_points_a_series(
        ft: FineTuner, auth_client: TestClient, db_session: Session, tenant: TenantKey) -> None:
    job_id = ft.create_fine_tune_job(upload_dataset(auth_client, chat_jsonl(12))["id"])
    db_session.execute(insert(JobMetric), [{"job_id": job_id, "tenant_id": tenant.tenant_id, "step": s,
                                            "train_loss": 1.0 / s, "data": {}} for s in range(1, 2501)])
    db_session.commit()

    points = ft.metrics(job_id)
    sampled = ft.metrics(job_id, max_points=100)

    assert [p.step for p in points] == list(range(1, 2501))
    assert isinstance(sampled, MetricSeries) and len(sampled.series["train_loss"].steps) <= 100
    assert sampled.series["train_loss"].steps[-1] == 2500
    csv_text = b"".join(ft.metrics_csv(job_id)).decode()
    assert csv_text.count("\n") == 2501


def _mock(responses: list[httpx.Response], seen: list[httpx.Request]) -> httpx.Client:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return responses.pop(0)

    return httpx.Client(transport=httpx.MockTransport(handle), base_url="http://svc")


JOB_BODY = {"id": "job_1", "status": "pending", "model": "gpt-4o-mini", "training_dataset_id": "ds_1",
            "created_at": "2026-11-23T21:40:00Z"}


def test_a_create_is_retried_on_429_and_503_honouring_retry_after_with_one_idempotency_key(
        monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    seen: list[httpx.Request] = []
    responses = [httpx.Response(429, headers={"Retry-After": "7"}, json={"error": {"type": "rate_limited",
                                                                                   "message": "slow down"}}),
                 httpx.Response(503, json={"error": {"type": "provider_unavailable", "message": "later"}}),
                 httpx.Response(202, json=JOB_BODY)]
    ft = FineTuner(base_url="http://svc", api_key="ftk_x", http_client=_mock(responses, seen))

    assert ft.create_fine_tune_job("ds_1", base_model="gpt-4o-mini") == "job_1"

    assert len(seen) == 3 and slept[0] == 7.0, f"Retry-After not honoured: slept {slept}"
    keys = {r.headers["Idempotency-Key"] for r in seen}
    assert len(keys) == 1, f"each retry must repeat the same Idempotency-Key, saw {keys}"
    assert json.loads(seen[0].content)["model"] == "gpt-4o-mini"
    assert seen[0].headers["Authorization"] == "Bearer ftk_x"


def test_retries_stop_after_max_retries_with_the_servers_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "sleep", lambda s: None)
    seen: list[httpx.Request] = []
    responses = [httpx.Response(502, json={"error": {"type": "provider_error", "message": f"try {i}"}})
                 for i in range(3)]
    ft = FineTuner(base_url="http://svc", api_key="ftk_x", max_retries=2, http_client=_mock(responses, seen))
    with pytest.raises(ServerError) as failed:
        ft.get_job("job_1")
    assert failed.value.status_code == 502 and failed.value.message == "try 2" and len(seen) == 3


def test_a_4xx_is_never_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "sleep", lambda s: pytest.fail("slept before a 4xx retry"))
    seen: list[httpx.Request] = []
    responses = [httpx.Response(409, json={"error": {"type": "conflict", "message": "finished"}})]
    with pytest.raises(Conflict):
        FineTuner(base_url="http://svc", api_key="k", http_client=_mock(responses, seen)).cancel("job_1")
    assert len(seen) == 1


def test_wait_returns_the_finished_job_and_renders_progress(ft: FineTuner, auth_client: TestClient,
                                                            db_session: Session, tenant: TenantKey) -> None:
    job_id = ft.create_fine_tune_job(upload_dataset(auth_client, chat_jsonl(12))["id"])
    db_session.execute(insert(JobMetric), [{"job_id": job_id, "tenant_id": tenant.tenant_id, "step": s,
                                            "train_loss": 2.0 / s, "valid_loss": 2.5 / s,
                                            "data": {"step": s, "total_steps": 30}} for s in range(1, 31)])
    db_session.add(JobEvent(job_id=job_id, tenant_id=tenant.tenant_id, provider_event_id="ev1",
                            message="Fine-tuning job successfully completed", created_at=utcnow()))
    _move(db_session, job_id, *SUCCESS_PATH)
    screen = io.StringIO()

    job = ft.wait(job_id, progress=True, poll_interval=0.01, console=Console(file=screen, force_terminal=True,
                                                                             width=100))

    assert job.status == "succeeded"
    shown = screen.getvalue()
    assert "succeeded" in shown and "step 30/30" in shown, shown
    assert "train 0.0667" in shown and "valid 0.0833" in shown, shown
    assert "successfully completed" in shown


def test_the_async_twin_runs_the_seed_call_and_waits(api_app: FastAPI, auth_client: TestClient,
                                                     db_session: Session, tenant: TenantKey) -> None:
    train_file_id = upload_dataset(auth_client, chat_jsonl(12))["id"]

    async def scenario() -> tuple[str, str, list[str]]:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=api_app), base_url="http://testserver")
        async with AsyncFineTuner(api_key=tenant.key, wandb_project="my-wandb-project", http_client=http) as ft:
            job_id = await ft.create_fine_tune_job(train_file_id, None, base_model="gpt-4o-mini", n_epochs=1,
                                                   suffix="pricer")
            _move(db_session, job_id, *SUCCESS_PATH)
            job = await ft.wait(job_id, poll_interval=0.01)
            listed = [j.id async for j in ft.list_jobs()]
            return job_id, job.status, listed

    job_id, status, listed = asyncio.run(scenario())
    assert status == "succeeded" and listed == [job_id]


def test_url_and_key_come_from_the_environment_then_the_dev_key_on_loopback_only(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FINETUNER_URL", "http://10.1.2.3:9000/")
    monkeypatch.setenv("FINETUNER_API_KEY", "ftk_env")
    assert (resolve().base_url, resolve().api_key) == ("http://10.1.2.3:9000", "ftk_env")
    monkeypatch.delenv("FINETUNER_API_KEY")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "dev-api-key").write_text("ftk_dev\n")
    monkeypatch.delenv("FINETUNER_VAR_DIR", raising=False)
    assert resolve().api_key is None, "the dev key must never go to a non-loopback host"
    monkeypatch.delenv("FINETUNER_URL")
    assert (resolve().base_url, resolve().api_key) == ("http://127.0.0.1:8000", "ftk_dev")


def test_the_sse_decoder_follows_the_whatwg_rules() -> None:
    decoder = SSEDecoder()
    lines = [": keep-alive", "id: t1", "event: transition", 'data: {"to_status": "running"}', "",
             "event: metric", "data: {\"step\": 1,", "data: \"train_loss\": 2.0}", "", ""]
    messages = list(decoder.decode(lines))
    assert [(m.id, m.event) for m in messages] == [("t1", "transition"), (None, "metric")]
    assert messages[1].data == {"step": 1, "train_loss": 2.0}
    assert decoder.last_event_id == "t1"


