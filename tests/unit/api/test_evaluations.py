"""``/v1/jobs/{id}/evaluations`` and ``/v1/evaluations``: what is refused before any model is asked
(tenant walls, money, state, empty or wrong data), and what is stored when it is accepted."""

from __future__ import annotations

import io

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Dataset, EvaluationItem, WebhookDelivery
from core.tasknames import TaskName
from tests.fixtures.api import SentTasks, TenantKey, create_job, upload_dataset
from tests.fixtures.evaluation import TrainedJob, jsonl, label_rows, succeeded_job


@pytest.fixture
def trained(auth_client: TestClient, db_session: Session) -> TrainedJob:
    return succeeded_job(auth_client, db_session)


@pytest.fixture
def foreign(other_client: TestClient, db_session: Session) -> TrainedJob:
    return succeeded_job(other_client, db_session, suffix="other")


def _post(client: TestClient, job_id: str, **body: object) -> tuple[int, dict[str, object]]:
    response = client.post(f"/v1/jobs/{job_id}/evaluations", json=body)
    return response.status_code, response.json()


def test_an_accepted_evaluation_stores_every_item_and_defers_its_run(
        auth_client: TestClient, trained: TrainedJob, sent_tasks: SentTasks, db_session: Session) -> None:
    status, body = _post(auth_client, trained.job_id, dataset_id=trained.test_dataset_id, task="label",
                         compare_with=["base", trained.checkpoint_id])

    assert status == 202, body
    assert body["status"] == "queued" and str(body["id"]).startswith("eval_")
    keys = [t["key"] for t in body["targets"]]  # type: ignore[attr-defined]
    assert keys == ["fine_tuned", "base", trained.checkpoint_id, "baseline"]
    assert body["progress"] == {"completed": 12, "total": 48, "failed": 0}, "baseline items need no call"
    assert body["estimated_cost_usd"] > 0  # type: ignore[operator]
    assert (TaskName.RUN_EVALUATION, {"evaluation_id": body["id"]}) in sent_tasks
    count = db_session.scalar(select(func.count()).select_from(EvaluationItem)
                              .where(EvaluationItem.evaluation_id == body["id"]))
    assert count == 48
    first = auth_client.get(f"/v1/evaluations/{body['id']}/items", params={"limit": 5}).json()
    assert [i["id"] for i in first["data"]] == [f"evi_{n}" for n in range(5)] and first["has_more"]
    item = first["data"][0]
    assert set(item["answers"]) == {"fine_tuned", "base", trained.checkpoint_id, "baseline"}
    assert item["answers"]["baseline"]["status"] == "done" and item["answers"]["fine_tuned"]["status"] == "pending"
    assert item["input"][-1]["role"] == "user" and item["truth"] in {"billing", "bug", "feature"}
    rest = auth_client.get(f"/v1/evaluations/{body['id']}/items", params={"after": "evi_4", "limit": 100}).json()
    assert [i["index"] for i in rest["data"]] == list(range(5, 12)) and not rest["has_more"]


@pytest.mark.parametrize("which", ["job", "checkpoint", "ft_model", "checkpoint_model", "unknown_ft"])
def test_another_tenants_job_checkpoint_or_ft_model_is_404(
        auth_client: TestClient, trained: TrainedJob, foreign: TrainedJob, which: str) -> None:
    name = {"job": foreign.job_id, "checkpoint": foreign.checkpoint_id, "ft_model": foreign.fine_tuned_model,
            "checkpoint_model": foreign.checkpoint_model, "unknown_ft": "ft:gpt-4o-mini:someone:x:abc"}[which]
    status, body = _post(auth_client, trained.job_id, dataset_id=trained.test_dataset_id, task="label",
                         compare_with=[name])
    assert status == 404, body
    assert body["error"]["type"] == "not_found"  # type: ignore[index]


def test_another_tenants_job_or_dataset_is_404(auth_client: TestClient, trained: TrainedJob,
                                              foreign: TrainedJob) -> None:
    assert _post(auth_client, foreign.job_id, dataset_id=trained.test_dataset_id, task="label")[0] == 404
    assert _post(auth_client, trained.job_id, dataset_id=foreign.test_dataset_id, task="label")[0] == 404
    assert auth_client.post(f"/v1/jobs/{foreign.job_id}/evaluations").status_code == 404


def test_an_estimate_over_max_cost_is_422_with_the_estimate(auth_client: TestClient, trained: TrainedJob,
                                                             db_session: Session) -> None:
    status, body = _post(auth_client, trained.job_id, dataset_id=trained.test_dataset_id, task="label",
                         compare_with=["base"], max_cost_usd=0.000001)
    assert status == 422, body
    details = body["error"]["details"]  # type: ignore[index]
    assert details["param"] == "max_cost_usd" and details["estimate"]["total_usd"] > 0.000001
    assert set(details["estimate"]["per_target_usd"]) == {"fine_tuned", "base"}
    assert db_session.scalar(select(func.count()).select_from(EvaluationItem)) == 0


def test_a_job_that_has_not_succeeded_is_409(auth_client: TestClient, trained: TrainedJob) -> None:
    pending = create_job(auth_client, trained.training_dataset_id, suffix="p")
    status, body = _post(auth_client, pending["id"], dataset_id=trained.test_dataset_id, task="label")
    assert status == 409, body


def test_the_training_data_itself_is_refused_as_a_held_out_set(auth_client: TestClient,
                                                               trained: TrainedJob) -> None:
    status, body = _post(auth_client, trained.job_id, dataset_id=trained.training_dataset_id, task="label")
    assert status == 422 and "training data" in body["error"]["message"]  # type: ignore[index]


def test_an_empty_held_out_set_is_422(api_app: FastAPI, auth_client: TestClient, trained: TrainedJob,
                                      tenant: TenantKey, db_session: Session) -> None:
    blob = api_app.state.blob_store.put_stream(io.BytesIO(b""))
    empty = Dataset(tenant_id=tenant.tenant_id, name="empty.jsonl", sha256=blob.sha256, bytes=0,
                    canonical_sha256=blob.sha256, canonical_bytes=0, format="chat", num_examples=0, status="valid",
                    report={"errors": []})
    db_session.add(empty)
    db_session.commit()
    status, body = _post(auth_client, trained.job_id, dataset_id=empty.id, task="label")
    assert status == 422 and "no examples" in body["error"]["message"], body  # type: ignore[index]


def test_a_metric_of_another_task_is_422(auth_client: TestClient, trained: TrainedJob) -> None:
    status, body = _post(auth_client, trained.job_id, dataset_id=trained.test_dataset_id, task="label",
                         metrics=["rmse"])
    assert status == 422 and body["error"]["details"]["param"] == "metrics"  # type: ignore[index]


def test_cancel_keeps_the_evaluation_and_a_second_cancel_is_409(auth_client: TestClient,
                                                                trained: TrainedJob) -> None:
    _, body = _post(auth_client, trained.job_id, dataset_id=trained.test_dataset_id, task="label")
    cancelled = auth_client.post(f"/v1/evaluations/{body['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["results"]["baseline"]["answered"] == 12
    assert cancelled.json()["results"]["fine_tuned"]["pending"] == 12
    assert auth_client.post(f"/v1/evaluations/{body['id']}/cancel").status_code == 409


def test_evaluation_webhooks_go_through_the_outbox(auth_client: TestClient, trained: TrainedJob,
                                                   db_session: Session) -> None:
    hook = auth_client.post("/v1/webhooks", json={"url": "https://93.184.215.14/h", "events": ["evaluation.*"]})
    assert hook.status_code == 201, hook.text
    _, body = _post(auth_client, trained.job_id, dataset_id=trained.test_dataset_id, task="label")
    auth_client.post(f"/v1/evaluations/{body['id']}/cancel")
    rows = db_session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created_at)).all()
    assert [r.event_type for r in rows] == ["evaluation.queued", "evaluation.cancelled"]
    assert rows[1].payload["evaluation_id"] == body["id"] and rows[1].payload["previous_status"] == "queued"


def test_a_label_test_set_uploaded_by_a_client_is_read_in_order(auth_client: TestClient,
                                                               trained: TrainedJob) -> None:
    test = upload_dataset(auth_client, jsonl(label_rows(15, seed=5)), filename="more.jsonl")
    _, body = _post(auth_client, trained.job_id, dataset_id=test["id"], task="label", max_examples=11)
    assert body["progress"]["total"] == 22  # type: ignore[index]


def test_a_repeat_with_the_same_idempotency_key_returns_the_first_evaluation_and_stores_nothing_more(
        auth_client: TestClient, trained: TrainedJob, sent_tasks: SentTasks, db_session: Session) -> None:
    body = {"dataset_id": trained.test_dataset_id, "task": "label", "compare_with": ["base"]}
    headers = {"Idempotency-Key": "eval-retry-1"}
    first = auth_client.post(f"/v1/jobs/{trained.job_id}/evaluations", json=body, headers=headers)
    again = auth_client.post(f"/v1/jobs/{trained.job_id}/evaluations", json=body, headers=headers)
    changed = auth_client.post(f"/v1/jobs/{trained.job_id}/evaluations", json={**body, "compare_with": []},
                               headers=headers)

    assert first.status_code == again.status_code == 202, (first.text, again.text)
    assert again.json()["id"] == first.json()["id"], "a client retrying a lost answer must not pay twice"
    assert changed.status_code == 422 and changed.json()["error"]["details"]["param"] == "Idempotency-Key"
    items = db_session.scalar(select(func.count()).select_from(EvaluationItem))
    assert items == first.json()["progress"]["total"], "the repeat stored no second set of items"
    runs = [task for task in sent_tasks if task[0] == TaskName.RUN_EVALUATION]
    assert runs == [(TaskName.RUN_EVALUATION, {"evaluation_id": first.json()["id"]})]
