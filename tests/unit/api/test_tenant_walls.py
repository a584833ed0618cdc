"""Tenants are walls: another tenant's id answers 404 on every route, never 403, never data."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.fixtures.api import chat_jsonl, create_job, upload_dataset
from tests.fixtures.evaluation import succeeded_job

PARAM = re.compile(r"{(\w+)}")


@pytest.fixture
def owned_ids(auth_client: TestClient, db_session: Session) -> dict[str, str]:
    """One of each id type, owned by the first tenant; a new path parameter must be added here."""
    dataset = upload_dataset(auth_client, chat_jsonl())
    job = create_job(auth_client, dataset["id"])
    webhook = auth_client.post("/v1/webhooks", json={"url": "https://93.184.215.14/hook", "events": ["job.*"]})
    assert webhook.status_code == 201, webhook.text
    trained = succeeded_job(auth_client, db_session)
    evaluation = auth_client.post(f"/v1/jobs/{trained.job_id}/evaluations",
                                  json={"dataset_id": trained.test_dataset_id, "task": "label"})
    assert evaluation.status_code == 202, evaluation.text
    sweep = auth_client.post("/v1/sweeps", json={"job": {"training_dataset_id": dataset["id"],
                                                          "model": "gpt-4o-mini-2024-07-18"},
                                                  "grid": {"n_epochs": [1, 2]}})
    assert sweep.status_code == 202, sweep.text
    return {"dataset_id": dataset["id"], "job_id": job["id"], "webhook_id": webhook.json()["id"],
            "evaluation_id": evaluation.json()["id"], "sweep_id": sweep.json()["id"]}


def _routes_with_ids(app: FastAPI) -> list[tuple[str, str]]:
    """From the OpenAPI schema, so a route added later is covered without touching this test."""
    return sorted((method.upper(), path) for path, operations in app.openapi()["paths"].items()
                  if PARAM.search(path) for method in operations)


def test_every_route_with_an_id_is_404_for_another_tenant(
    api_app: FastAPI, owned_ids: dict[str, str], other_client: TestClient, auth_client: TestClient,
) -> None:
    routes = _routes_with_ids(api_app)
    assert len(routes) >= 11, routes
    for method, path in routes:
        names = PARAM.findall(path)
        missing = [n for n in names if n not in owned_ids]
        assert not missing, f"{method} {path}: add an owned id for {missing} to this test's fixture"
        url = PARAM.sub(lambda m: owned_ids[m.group(1)], path)
        response = other_client.request(method, url)
        assert response.status_code == 404, f"{method} {url} answered {response.status_code} to another tenant"
        assert response.json()["error"]["type"] == "not_found"
    job = auth_client.get(f"/v1/jobs/{owned_ids['job_id']}").json()
    assert job["status"] == "pending", "another tenant's cancel / pause must not have touched the job"


def test_lists_show_only_the_callers_rows(owned_ids: dict[str, str], other_client: TestClient) -> None:
    assert other_client.get("/v1/jobs").json()["data"] == []
    assert other_client.get("/v1/datasets").json()["data"] == []


def test_another_tenants_dataset_cannot_be_trained_on(owned_ids: dict[str, str], other_client: TestClient) -> None:
    body = create_job(other_client, owned_ids["dataset_id"], expect=404)
    assert body["error"]["type"] == "not_found"
    body = create_job(other_client, upload_dataset(other_client, chat_jsonl())["id"],
                      validation_dataset_id=owned_ids["dataset_id"], expect=404)
    assert owned_ids["dataset_id"] in body["error"]["message"]
