"""Bearer keys and the one error shape of DESIGN §8."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from core.providers.errors import ProviderRetryableError
from core.tenants import revoke_api_key
from tests.fixtures.api import TenantKey, chat_jsonl, upload_dataset


def _assert_error(response_json: dict[str, object], error_type: str) -> None:
    assert set(response_json) == {"error"}, response_json
    error = response_json["error"]
    assert isinstance(error, dict)
    assert error["type"] == error_type, error
    assert isinstance(error["message"], str) and error["message"], error
    assert set(error) <= {"type", "message", "details"}, error


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/datasets", "/v1/jobs/job_x", "/v1/datasets/ds_x/content"])
def test_missing_key_is_401_in_our_error_shape(api_client: TestClient, path: str) -> None:
    response = api_client.get(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    _assert_error(response.json(), "unauthorized")


@pytest.mark.parametrize("header", ["Bearer ftk_not-a-real-key", "Basic dXNlcjpwYXNz", "Bearer", "ftk_abc"])
def test_unknown_or_malformed_key_is_401_and_not_echoed(api_client: TestClient, header: str) -> None:
    response = api_client.get("/v1/jobs", headers={"Authorization": header})
    assert response.status_code == 401
    _assert_error(response.json(), "unauthorized")
    assert "not-a-real-key" not in response.text


def test_revoked_key_is_401(api_app: FastAPI, api_client: TestClient, tenant: TenantKey) -> None:
    assert api_client.get("/v1/jobs", headers=tenant.headers).status_code == 200
    with api_app.state.sessionmaker() as session:
        revoke_api_key(session, tenant.key_id)
        session.commit()
    response = api_client.get("/v1/jobs", headers=tenant.headers)
    assert response.status_code == 401
    _assert_error(response.json(), "unauthorized")


def test_a_key_is_never_logged(api_client: TestClient, tenant: TenantKey, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    upload_dataset(api_client, chat_jsonl(), headers=tenant.headers)
    api_client.get("/v1/jobs", headers={"Authorization": "Bearer ftk_planted-secret-value"})
    assert caplog.records, "the run should have logged something to check"
    assert tenant.key not in caplog.text
    assert "planted-secret-value" not in caplog.text


def test_unknown_route_is_404_in_our_shape(auth_client: TestClient) -> None:
    response = auth_client.get("/v1/nothing-here")
    assert response.status_code == 404
    _assert_error(response.json(), "not_found")


def test_wrong_method_is_405_in_our_shape_listing_every_allowed_method(auth_client: TestClient) -> None:
    response = auth_client.delete("/v1/jobs")
    assert response.status_code == 405
    _assert_error(response.json(), "method_not_allowed")
    assert response.headers["allow"] == "GET, POST"
    assert auth_client.put("/v1/jobs/job_x/cancel").headers["allow"] == "POST"


def test_malformed_json_is_400(auth_client: TestClient) -> None:
    response = auth_client.post("/v1/jobs", content=b'{"model": ', headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    _assert_error(response.json(), "invalid_request")


@pytest.mark.parametrize("body", [
    {"model": "gpt-4o-mini"},  # training_dataset_id missing
    {"training_dataset_id": "ds_x", "model": "gpt-4o-mini", "seed": "7"},  # a string for an integer
    {"training_dataset_id": "ds_x", "model": "gpt-4o-mini", "hyperparameters": {"n_epochs": 0}},
    {"training_dataset_id": "ds_x", "model": "gpt-4o-mini", "suffix": "x" * 65},
    {"training_dataset_id": "ds_x", "model": "gpt-4o-mini", "surprise": True},  # unknown field
    ["not", "an", "object"],
])
def test_body_that_does_not_match_the_schema_is_400_naming_the_field(auth_client: TestClient, body: object) -> None:
    response = auth_client.post("/v1/jobs", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request"
    assert error["details"] and all("loc" in d and "msg" in d for d in error["details"])


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc", "status=finished"])
def test_bad_query_parameters_are_400(auth_client: TestClient, query: str) -> None:
    response = auth_client.get(f"/v1/jobs?{query}")
    assert response.status_code == 400, response.text
    _assert_error(response.json(), "invalid_request")


def test_unhandled_error_is_500_in_our_shape_without_internals(
    api_app: FastAPI, tenant: TenantKey, caplog: pytest.LogCaptureFixture,
) -> None:
    @api_app.get("/v1/boom")
    def boom() -> None:
        raise RuntimeError("database password is hunter2")

    with TestClient(api_app, raise_server_exceptions=False) as client:
        response = client.get("/v1/boom", headers=tenant.headers)
    assert response.status_code == 500
    _assert_error(response.json(), "internal_error")
    assert "hunter2" not in response.text and "RuntimeError" not in response.text
    assert "hunter2" in caplog.text, "the traceback must be logged for operators"


def test_a_provider_outage_is_503_with_retry_after(api_app: FastAPI, tenant: TenantKey) -> None:
    @api_app.post("/v1/flaky")
    def flaky() -> None:
        raise ProviderRetryableError("upstream 503 for key sk-abc", status_code=503, retry_after=2.5)

    with TestClient(api_app) as client:
        response = client.post("/v1/flaky", headers=tenant.headers)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "3"
    _assert_error(response.json(), "provider_unavailable")


def test_health_needs_no_key_and_readiness_checks_database_and_broker(api_client: TestClient) -> None:
    assert api_client.get("/healthz").json() == {"status": "ok"}
    response = api_client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_readiness_is_503_when_the_broker_is_unreachable(api_app: FastAPI) -> None:
    api_app.state.settings = api_app.state.settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"})
    with TestClient(api_app) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "broker": "error"}
    assert "127.0.0.1" not in response.text, "readiness must not reveal configuration"


def test_readiness_is_503_when_the_database_is_unreachable(api_app: FastAPI) -> None:
    unreachable = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/nowhere",
                                connect_args={"connect_timeout": 2})
    api_app.state.sessionmaker = sessionmaker(unreachable)
    with TestClient(api_app) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "error"
    assert "nowhere" not in response.text, "readiness must not reveal configuration"
    assert "127.0.0.1" not in response.text


def test_openapi_documents_our_error_shape_not_fastapis(api_client: TestClient) -> None:
    schema = api_client.get("/openapi.json").json()
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    create_job = schema["paths"]["/v1/jobs"]["post"]
    assert create_job["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorResponse")
    assert "multipart/form-data" in schema["paths"]["/v1/datasets"]["post"]["requestBody"]["content"]
    assert api_client.get("/docs").status_code == 200
