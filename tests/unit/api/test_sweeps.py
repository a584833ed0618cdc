"""``/v1/sweeps``: refused over budget before any job exists; cancelling ends every unfinished run."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Job, WebhookDelivery
from core.sweeps import advance
from core.tasknames import TaskName
from tests.fixtures.api import SentTasks, chat_jsonl, upload_dataset
from tests.fixtures.evaluation import jsonl, label_rows

MODEL = "gpt-4o-mini-2024-07-18"


def _body(dataset_id: str, **fields: object) -> dict[str, object]:
    return {"job": {"training_dataset_id": dataset_id, "model": MODEL},
            "grid": {"n_epochs": [1, 2, 3], "learning_rate_multiplier": [0.5, 2]}, "max_parallel": 2, **fields}


def _jobs(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Job)) or 0)


def test_an_over_budget_sweep_is_422_with_the_estimate_and_no_job(auth_client: TestClient,
                                                                  db_session: Session) -> None:
    dataset = upload_dataset(auth_client, chat_jsonl(50))
    test = upload_dataset(auth_client, jsonl(label_rows(20)), filename="test.jsonl")
    evaluation = {"dataset_id": test["id"], "task": "label", "compare_with": ["base"]}
    response = auth_client.post("/v1/sweeps", json=_body(dataset["id"], budget_usd=0.0001, evaluation=evaluation))
    assert response.status_code == 422, response.text
    estimate = response.json()["error"]["details"]["estimate"]
    assert estimate["runs"] == 6 and estimate["total_usd"] > 0.0001
    assert estimate["evaluation_usd_per_run"] > 0, "evaluations are part of the estimate"
    assert len(estimate["training_usd_per_run"]) == 6
    assert _jobs(db_session) == 0, "refused before any job exists"


def test_a_sweep_starts_max_parallel_runs_and_a_cancel_ends_them_and_starts_no_more(
        api_app: FastAPI, auth_client: TestClient, db_session: Session, sent_tasks: SentTasks) -> None:
    dataset = upload_dataset(auth_client, chat_jsonl(50))
    response = auth_client.post("/v1/sweeps", json=_body(dataset["id"], budget_usd=100.0))
    assert response.status_code == 202, response.text
    sweep = response.json()
    assert sweep["status"] == "running" and len(sweep["runs"]) == 6 and sweep["estimated_cost_usd"] > 0
    assert (TaskName.ADVANCE_SWEEP, {"sweep_id": sweep["id"]}) in sent_tasks
    advance(db_session, sweep["id"], catalog=api_app.state.catalog, store=api_app.state.blob_store)
    db_session.commit()
    assert _jobs(db_session) == 2, "max_parallel runs at once"

    cancelled = auth_client.post(f"/v1/sweeps/{sweep['id']}/cancel")

    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    db_session.expire_all()
    statuses = sorted(db_session.scalars(select(Job.status)))
    assert statuses == ["cancelling", "cancelling"]
    advance(db_session, sweep["id"], catalog=api_app.state.catalog, store=api_app.state.blob_store)
    db_session.commit()
    assert _jobs(db_session) == 2, "a cancelled sweep starts no new run"
    assert auth_client.post(f"/v1/sweeps/{sweep['id']}/cancel").status_code == 409


def test_a_grid_over_a_hyperparameter_the_job_fixes_is_422(auth_client: TestClient) -> None:
    dataset = upload_dataset(auth_client, chat_jsonl(20))
    body = _body(dataset["id"])
    body["job"] = {"training_dataset_id": dataset["id"], "model": MODEL, "hyperparameters": {"n_epochs": 2}}
    assert auth_client.post("/v1/sweeps", json=body).status_code == 422
    body = _body(dataset["id"])
    body["grid"] = {"n_epochs": ["three"]}
    assert auth_client.post("/v1/sweeps", json=body).status_code == 400


def test_sweep_webhooks_announce_running_and_cancelled(auth_client: TestClient, db_session: Session) -> None:
    hook = auth_client.post("/v1/webhooks", json={"url": "https://93.184.215.14/h", "events": ["sweep.*"]})
    assert hook.status_code == 201, hook.text
    dataset = upload_dataset(auth_client, chat_jsonl(20))
    sweep = auth_client.post("/v1/sweeps", json=_body(dataset["id"])).json()
    auth_client.post(f"/v1/sweeps/{sweep['id']}/cancel")
    rows = db_session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created_at)).all()
    assert [r.event_type for r in rows] == ["sweep.running", "sweep.cancelled"]
    assert rows[-1].payload["sweep_id"] == sweep["id"]


def test_a_sweep_whose_runs_the_service_would_refuse_is_refused_before_any_job(
        auth_client: TestClient, other_client: TestClient, db_session: Session) -> None:
    dataset = upload_dataset(auth_client, chat_jsonl(20))
    theirs = upload_dataset(other_client, chat_jsonl(20))
    body = _body(dataset["id"])
    body["job"] = {"training_dataset_id": dataset["id"], "model": "gpt-2"}
    assert auth_client.post("/v1/sweeps", json=body).status_code == 422
    body["job"] = {"training_dataset_id": dataset["id"], "model": MODEL, "validation_dataset_id": theirs["id"]}
    assert auth_client.post("/v1/sweeps", json=body).status_code == 404
    body["job"] = {"training_dataset_id": dataset["id"], "model": "ft:gpt-4o-mini-2024-07-18:o:x:abc"}
    assert auth_client.post("/v1/sweeps", json=body).status_code == 404
    assert _jobs(db_session) == 0


def test_a_repeat_with_the_same_idempotency_key_returns_the_first_sweep(
        auth_client: TestClient, db_session: Session, sent_tasks: SentTasks) -> None:
    dataset = upload_dataset(auth_client, chat_jsonl(50))
    headers = {"Idempotency-Key": "sweep-retry-1"}
    first = auth_client.post("/v1/sweeps", json=_body(dataset["id"], budget_usd=100.0), headers=headers)
    again = auth_client.post("/v1/sweeps", json=_body(dataset["id"], budget_usd=100.0), headers=headers)
    changed = auth_client.post("/v1/sweeps", json=_body(dataset["id"], budget_usd=50.0), headers=headers)

    assert first.status_code == again.status_code == 202, (first.text, again.text)
    assert again.json()["id"] == first.json()["id"], "a second sweep would train the whole grid again"
    assert changed.status_code == 422 and changed.json()["error"]["details"]["param"] == "Idempotency-Key"
    advances = [task for task in sent_tasks if task[0] == TaskName.ADVANCE_SWEEP]
    assert advances == [(TaskName.ADVANCE_SWEEP, {"sweep_id": first.json()["id"]})]
