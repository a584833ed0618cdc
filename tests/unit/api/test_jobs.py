"""``/v1/jobs``: creation rules, idempotency, listing, following a job, cancel / pause / resume."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.app import create_app
from api.deps import get_today
from core.config import Settings
from core.jobs import transition
from core.models import Checkpoint, Job, JobEvent, JobMetric
from core.states import JobStatus
from core.tasknames import TaskName
from tests.fixtures.api import SentTasks, TenantKey, chat_jsonl, create_job, upload_dataset
from tests.fixtures.evaluation import succeeded_job

JOB_FIELDS = {
    "id", "object", "status", "model", "provider", "provider_job_id", "method", "hyperparameters",
    "resolved_hyperparameters", "training_dataset_id", "validation_dataset_id", "training_file_id",
    "validation_file_id", "suffix", "seed", "metadata", "wandb", "fine_tuned_model", "serving", "error",
    "trained_tokens", "estimated_cost_usd", "estimated_finish", "overfitting_suspected", "overfitting_step",
    "created_at", "updated_at", "status_changed_at", "finished_at",
}


@pytest.fixture
def dataset_id(auth_client: TestClient) -> str:
    return str(upload_dataset(auth_client, chat_jsonl(12))["id"])


def _job_count(app: FastAPI, tenant: TenantKey) -> int:
    """The tenant's rows only: the database may be shared with other tests (PostgreSQL runs)."""
    with app.state.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(Job).where(Job.tenant_id == tenant.tenant_id)) or 0)


def _move(session: Session, job_id: str, *path: JobStatus) -> None:
    """Walk a job along allowed transitions, as the worker would."""
    job = session.get(Job, job_id)
    assert job is not None
    for status in path:
        transition(session, job, status, reason="test", actor="worker")
    session.commit()


def test_create_is_202_pending_with_every_field(auth_client: TestClient, dataset_id: str,
                                                 sent_tasks: SentTasks) -> None:
    job = create_job(auth_client, dataset_id, suffix="sentiment", seed=7, metadata={"team": "ml"},
                     hyperparameters={"n_epochs": 2}, wandb={"project": "ft", "tags": ["a"]})
    assert set(job) == JOB_FIELDS
    assert job["id"].startswith("job_") and job["status"] == "pending"
    assert job["hyperparameters"] == {"n_epochs": 2, "batch_size": "auto", "learning_rate_multiplier": "auto"}
    assert job["method"]["type"] == "supervised"
    assert job["resolved_hyperparameters"] is None and job["error"] is None and job["finished_at"] is None
    assert job["metadata"] == {"team": "ml"} and job["wandb"] == {"project": "ft", "tags": ["a"]}
    assert job["training_dataset_id"] == dataset_id and job["provider"] == "openai"
    assert isinstance(job["estimated_cost_usd"], float), "money is a plain number"
    assert job["created_at"].endswith("Z")
    assert sent_tasks == [(TaskName.ADVANCE_JOB, {"job_id": job["id"]})], "the first advance is sent after the commit"
    assert auth_client.get(f"/v1/jobs/{job['id']}").json() == job


def test_refused_create_stores_nothing_and_sends_nothing(api_app: FastAPI, auth_client: TestClient, dataset_id: str,
                                                         sent_tasks: SentTasks, tenant: TenantKey) -> None:
    create_job(auth_client, dataset_id, model="gpt-9-ultra", expect=422)
    assert _job_count(api_app, tenant) == 0 and sent_tasks == []


def test_invalid_dataset_is_422_naming_it_and_its_first_errors(auth_client: TestClient) -> None:
    bad = upload_dataset(auth_client, b'{"messages": []}\nnot json\n')
    body = create_job(auth_client, bad["id"], expect=422)
    assert bad["id"] in body["error"]["message"]
    assert "line 1" in body["error"]["message"] and "line 2" in body["error"]["message"]
    assert [e["line"] for e in body["error"]["details"]["errors"] if e["line"] is not None] == [1, 2]


def test_unknown_dataset_is_404_naming_it(auth_client: TestClient, dataset_id: str) -> None:
    body = create_job(auth_client, "ds_doesnotexist", expect=404)
    assert "ds_doesnotexist" in body["error"]["message"]
    body = create_job(auth_client, dataset_id, validation_dataset_id="ds_nope", expect=404)
    assert "ds_nope" in body["error"]["message"]


def test_unknown_model_is_422_with_the_reason(auth_client: TestClient, dataset_id: str) -> None:
    body = create_job(auth_client, dataset_id, model="gpt-9-ultra", expect=422)
    assert "gpt-9-ultra" in body["error"]["message"] and "not fine-tunable" in body["error"]["message"]
    assert body["error"]["details"]["param"] == "model"


def test_dpo_on_a_chat_dataset_is_422(auth_client: TestClient, dataset_id: str) -> None:
    body = create_job(auth_client, dataset_id, method={"type": "dpo"}, expect=422)
    assert "preference" in body["error"]["message"]


@pytest.fixture
def real_openai_app(api_settings: Settings, sent_tasks: SentTasks) -> FastAPI:
    """Configured for OpenAI's real endpoint, where the catalog's cut-off dates apply."""
    settings = api_settings.model_copy(update={"openai_api_key": "sk-test-not-used"})
    return create_app(settings, send_tasks=False)


@pytest.fixture
def real_openai_client(real_openai_app: FastAPI, tenant: TenantKey) -> Iterator[TestClient]:
    with TestClient(real_openai_app, headers=tenant.headers) as client:
        yield client


@pytest.mark.parametrize(("today", "status"), [(dt.date(2027, 1, 6), 202), (dt.date(2027, 1, 7), 422)])
def test_model_past_its_cutoff_is_422_on_the_real_endpoint(
    real_openai_app: FastAPI, real_openai_client: TestClient, today: dt.date, status: int,
) -> None:
    real_openai_app.dependency_overrides[get_today] = lambda: today
    dataset = upload_dataset(real_openai_client, chat_jsonl())
    body = create_job(real_openai_client, dataset["id"], expect=status)
    if status == 422:
        assert "stopped accepting new fine-tuning jobs" in body["error"]["message"]


def test_cutoff_does_not_apply_to_the_emulator(api_app: FastAPI, auth_client: TestClient, dataset_id: str) -> None:
    api_app.dependency_overrides[get_today] = lambda: dt.date(2030, 1, 1)
    create_job(auth_client, dataset_id, expect=202)


def test_same_idempotency_key_and_body_returns_the_same_job(api_app: FastAPI, auth_client: TestClient,
                                                            dataset_id: str, sent_tasks: SentTasks,
                                                            tenant: TenantKey) -> None:
    headers = {"Idempotency-Key": "job-1"}
    first = create_job(auth_client, dataset_id, headers=headers, suffix="x")
    again = create_job(auth_client, dataset_id, headers=headers, suffix="x")
    assert again == first
    assert _job_count(api_app, tenant) == 1 and len(sent_tasks) == 1


def test_same_idempotency_key_with_another_body_is_422(api_app: FastAPI, auth_client: TestClient,
                                                      dataset_id: str, tenant: TenantKey) -> None:
    headers = {"Idempotency-Key": "job-2"}
    first = create_job(auth_client, dataset_id, headers=headers, suffix="x")
    body = create_job(auth_client, dataset_id, headers=headers, suffix="y", expect=422)
    assert "different request body" in body["error"]["message"]
    assert body["error"]["details"]["job_id"] == first["id"]
    assert _job_count(api_app, tenant) == 1


def test_idempotency_keys_belong_to_one_tenant(auth_client: TestClient, other_client: TestClient,
                                               dataset_id: str) -> None:
    mine = create_job(auth_client, dataset_id, headers={"Idempotency-Key": "shared"})
    theirs_dataset = upload_dataset(other_client, chat_jsonl())["id"]
    theirs = create_job(other_client, theirs_dataset, headers={"Idempotency-Key": "shared"})
    assert theirs["id"] != mine["id"]


def test_list_is_newest_first_pages_with_after_and_filters_by_status(
    auth_client: TestClient, dataset_id: str, db_session: Session,
) -> None:
    ids = [create_job(auth_client, dataset_id)["id"] for _ in range(5)]
    pages, after = [], None
    while True:
        params: dict[str, str | int] = {"limit": 2, **({"after": after} if after else {})}
        body = auth_client.get("/v1/jobs", params=params).json()
        pages.append([j["id"] for j in body["data"]])
        if not body["has_more"]:
            break
        after = body["data"][-1]["id"]
    assert pages == [ids[4:2:-1], ids[2:0:-1], ids[:1]]
    _move(db_session, ids[1], JobStatus.FAILED)
    failed = auth_client.get("/v1/jobs", params={"status": "failed"}).json()
    assert [j["id"] for j in failed["data"]] == [ids[1]]
    assert auth_client.get("/v1/jobs").json()["data"][0]["id"] == ids[4]


def test_transitions_are_oldest_first_with_prefixed_ids_and_tailable(
    auth_client: TestClient, dataset_id: str, db_session: Session,
) -> None:
    job_id = create_job(auth_client, dataset_id)["id"]
    _move(db_session, job_id, JobStatus.UPLOADING, JobStatus.SUBMITTING, JobStatus.QUEUED)
    body = auth_client.get(f"/v1/jobs/{job_id}/transitions").json()
    moves = [(t["from_status"], t["to_status"]) for t in body["data"]]
    assert moves == [(None, "pending"), ("pending", "uploading"), ("uploading", "submitting"),
                     ("submitting", "queued")]
    assert all(t["id"].startswith("jtr_") for t in body["data"])
    cursor = body["data"][1]["id"]
    tail = auth_client.get(f"/v1/jobs/{job_id}/transitions", params={"after": cursor}).json()
    assert [t["to_status"] for t in tail["data"]] == ["submitting", "queued"]
    plain = auth_client.get(f"/v1/jobs/{job_id}/transitions", params={"after": cursor.removeprefix("jtr_")}).json()
    assert plain == tail
    for wrong in ("jev_1", "jtr_", "jtr_1x"):
        response = auth_client.get(f"/v1/jobs/{job_id}/transitions", params={"after": wrong})
        assert response.status_code == 400, wrong


def test_events_and_metrics_are_oldest_first_and_tailable(
    auth_client: TestClient, dataset_id: str, db_session: Session, tenant: TenantKey,
) -> None:
    job_id = create_job(auth_client, dataset_id)["id"]
    base = dt.datetime(2026, 11, 23, 21, 40, tzinfo=dt.UTC)
    for step in range(1, 6):
        db_session.add(JobEvent(job_id=job_id, tenant_id=tenant.tenant_id, provider_event_id=f"ftevent-{step}",
                                type="metrics", message=f"Step {step}/5", data={"step": step},
                                created_at=base + dt.timedelta(seconds=step)))
        db_session.add(JobMetric(job_id=job_id, tenant_id=tenant.tenant_id, step=step, train_loss=1.0 / step,
                                 data={"step": step, "train_loss": 1.0 / step}))
    db_session.commit()

    events = auth_client.get(f"/v1/jobs/{job_id}/events", params={"limit": 3}).json()
    assert [e["message"] for e in events["data"]] == ["Step 1/5", "Step 2/5", "Step 3/5"] and events["has_more"]
    assert events["data"][0]["id"].startswith("jev_") and events["data"][0]["created_at"] == "2026-11-23T21:40:01Z"
    rest = auth_client.get(f"/v1/jobs/{job_id}/events", params={"after": events["data"][-1]["id"]}).json()
    assert [e["provider_event_id"] for e in rest["data"]] == ["ftevent-4", "ftevent-5"] and not rest["has_more"]

    metrics = auth_client.get(f"/v1/jobs/{job_id}/metrics", params={"limit": 100}).json()
    assert [m["step"] for m in metrics["data"]] == [1, 2, 3, 4, 5]
    assert metrics["data"][1]["train_loss"] == 0.5 and metrics["data"][1]["id"].startswith("jmp_")
    tail = auth_client.get(f"/v1/jobs/{job_id}/metrics", params={"after": metrics["data"][3]["id"]}).json()
    assert [m["step"] for m in tail["data"]] == [5]


def test_checkpoints_are_listed(auth_client: TestClient, dataset_id: str, db_session: Session,
                                tenant: TenantKey) -> None:
    job_id = create_job(auth_client, dataset_id)["id"]
    for step in (10, 20):
        db_session.add(Checkpoint(job_id=job_id, tenant_id=tenant.tenant_id, provider_checkpoint_id=f"ftckpt-{step}",
                                  step=step, fine_tuned_model_checkpoint=f"ft:gpt-4o-mini:org::x:ckpt-step-{step}",
                                  metrics={"step": step}, created_at=dt.datetime.now(dt.UTC)))
    db_session.commit()
    body = auth_client.get(f"/v1/jobs/{job_id}/checkpoints").json()
    assert [c["step"] for c in body["data"]] == [10, 20]
    assert body["data"][0]["id"].startswith("ckpt_")


def test_cancel_is_202_cancelling_and_nudges_the_worker(auth_client: TestClient, dataset_id: str,
                                                         sent_tasks: SentTasks) -> None:
    job_id = create_job(auth_client, dataset_id)["id"]
    response = auth_client.post(f"/v1/jobs/{job_id}/cancel")
    assert response.status_code == 202 and response.json()["status"] == "cancelling"
    assert sent_tasks[-1] == (TaskName.ADVANCE_JOB, {"job_id": job_id})
    assert auth_client.post(f"/v1/jobs/{job_id}/cancel").status_code == 202, "asking twice is harmless"


@pytest.mark.parametrize("terminal", [JobStatus.FAILED, JobStatus.CANCELLED])
def test_cancel_of_a_finished_job_is_409(auth_client: TestClient, dataset_id: str, db_session: Session,
                                         terminal: JobStatus) -> None:
    job_id = create_job(auth_client, dataset_id)["id"]
    path = [JobStatus.FAILED] if terminal == JobStatus.FAILED else [JobStatus.CANCELLING, JobStatus.CANCELLED]
    _move(db_session, job_id, *path)
    response = auth_client.post(f"/v1/jobs/{job_id}/cancel")
    assert response.status_code == 409
    assert response.json()["error"]["type"] == "conflict" and terminal.value in response.json()["error"]["message"]
    assert auth_client.get(f"/v1/jobs/{job_id}").json()["status"] == terminal.value


@pytest.mark.parametrize("action", ["pause", "resume"])
def test_pause_and_resume_of_a_job_not_at_the_provider_are_409(auth_client: TestClient, dataset_id: str,
                                                               action: str) -> None:
    job_id = create_job(auth_client, dataset_id)["id"]
    response = auth_client.post(f"/v1/jobs/{job_id}/{action}")
    assert response.status_code == 409, response.text
    assert "pending" in response.json()["error"]["message"]


def test_a_finished_job_shows_what_the_provider_resolved(auth_client: TestClient, dataset_id: str,
                                                         db_session: Session) -> None:
    job_id = create_job(auth_client, dataset_id)["id"]
    job = db_session.get(Job, job_id)
    assert job is not None
    job.provider_job_id, job.fine_tuned_model, job.trained_tokens = "ftjob-1", "ft:gpt-4o-mini:org::abc", 1234
    job.resolved_hyperparameters = {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.8}
    job.error = None
    _move(db_session, job_id, JobStatus.UPLOADING, JobStatus.SUBMITTING, JobStatus.RUNNING, JobStatus.SUCCEEDED)
    body = auth_client.get(f"/v1/jobs/{job_id}").json()
    assert body["status"] == "succeeded" and body["finished_at"].endswith("Z")
    assert body["resolved_hyperparameters"]["n_epochs"] == 3 and body["hyperparameters"]["n_epochs"] == "auto"
    assert (body["provider_job_id"], body["fine_tuned_model"], body["trained_tokens"]) == (
        "ftjob-1", "ft:gpt-4o-mini:org::abc", 1234)


def test_a_failed_job_shows_the_providers_error(auth_client: TestClient, dataset_id: str,
                                                db_session: Session) -> None:
    job_id = create_job(auth_client, dataset_id)["id"]
    job = db_session.get(Job, job_id)
    assert job is not None
    job.error = {"code": "invalid_training_file", "message": "bad line 3", "param": "training_file"}
    _move(db_session, job_id, JobStatus.FAILED)
    assert auth_client.get(f"/v1/jobs/{job_id}").json()["error"] == {
        "code": "invalid_training_file", "message": "bad line 3", "param": "training_file"}


def test_a_job_may_continue_from_the_tenants_own_fine_tuned_model(auth_client: TestClient, dataset_id: str,
                                                                    db_session: Session) -> None:
    trained = succeeded_job(auth_client, db_session, suffix="first")
    job = create_job(auth_client, dataset_id, model=trained.fine_tuned_model, suffix="second")
    assert job["model"] == trained.fine_tuned_model and job["status"] == "pending"
    assert job["estimated_cost_usd"] is not None, "priced as its family (gpt-4o-mini)"
    from_checkpoint = create_job(auth_client, dataset_id, model=trained.checkpoint_model, suffix="third")
    assert from_checkpoint["model"] == trained.checkpoint_model


def test_another_tenants_or_an_unknown_ft_model_as_a_base_is_404(auth_client: TestClient, other_client: TestClient,
                                                                  dataset_id: str, db_session: Session) -> None:
    theirs = succeeded_job(other_client, db_session, suffix="theirs")
    for model in (theirs.fine_tuned_model, theirs.checkpoint_model, "ft:gpt-4o-mini-2024-07-18:org:x:nope"):
        body = create_job(auth_client, dataset_id, model=model, expect=404)
        assert body["error"]["type"] == "not_found" and model in body["error"]["message"]
