"""NUL bytes, lone surrogates and invalid UTF-8 never reach the database: 400 naming the field, on
PostgreSQL (where they used to answer 500), in path ids, cursors, JSON fields and keys, form fields
and file names. And the two small edges of the same review: ``seed`` is an integer only, and
``suffix`` holds only characters that are safe in a model name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from core.config import Settings
from tests.fixtures.api import TenantKey, chat_jsonl, pg_database, upload_dataset


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with pg_database("finetuner_test_nul") as url:
        yield url


@pytest.fixture
def api_database_url(postgres_url: str) -> str:  # overrides the SQLite default: PostgreSQL is where NUL fails
    return postgres_url  # one database for the module (each test has its own tenant): a migration costs ~1 s


@pytest.fixture
def client(api_app: FastAPI, tenant: TenantKey) -> Iterator[TestClient]:
    with TestClient(api_app, headers=tenant.headers, raise_server_exceptions=False) as test_client:
        yield test_client


def _is_400_naming(response: object, where: str) -> None:
    status = response.status_code  # type: ignore[attr-defined]
    text = response.text  # type: ignore[attr-defined]
    assert status == 400, f"{status}: {text}"
    assert where in text, f"the error should name {where!r}: {text}"


@pytest.mark.parametrize("path", [
    "/v1/jobs/job_%00", "/v1/jobs/job_%00/events", "/v1/jobs/job_%00/metrics", "/v1/jobs/job_%00/checkpoints",
    "/v1/jobs/job_%00/transitions", "/v1/jobs/job_%00/cancel", "/v1/datasets/ds_%00", "/v1/webhooks/wh_%00",
    "/v1/webhooks/wh_%00/deliveries",
])
def test_a_nul_in_a_path_id_is_400_naming_it(client: TestClient, path: str) -> None:
    method = client.post if path.endswith("/cancel") else client.get
    response = method(path)
    _is_400_naming(response, "path.")


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/datasets", "/v1/webhooks"])
def test_a_nul_in_a_cursor_is_400_naming_it(client: TestClient, path: str) -> None:
    _is_400_naming(client.get(path, params={"after": "x\x00"}), "query.after")


def test_a_nul_in_a_job_s_child_cursor_is_400(client: TestClient) -> None:
    dataset_id = upload_dataset(client, chat_jsonl(12))["id"]
    job = client.post("/v1/jobs", json={"training_dataset_id": dataset_id, "model": "gpt-4o-mini-2024-07-18"})
    assert job.status_code == 202, job.text
    for child in ("events", "metrics", "checkpoints", "transitions"):
        _is_400_naming(client.get(f"/v1/jobs/{job.json()['id']}/{child}", params={"after": "%00\x00"}),
                       "query.after")


@pytest.mark.parametrize(("body", "where"), [
    ({"training_dataset_id": "ds_\x00", "model": "gpt-4o-mini-2024-07-18"}, "body.training_dataset_id"),
    ({"training_dataset_id": "ds_x", "model": "gpt-4o-mini-2024-07-18", "metadata": {"k": "v\x00"}},
     "body.metadata.k"),
    ({"training_dataset_id": "ds_x", "model": "gpt-4o-mini-2024-07-18", "metadata": {"k\x00": "v"}},
     "a key of body.metadata"),
    ({"training_dataset_id": "ds_x", "model": "gpt-4o-mini-2024-07-18", "wandb": {"project": "p\x00"}},
     "body.wandb.project"),
    ({"training_dataset_id": "ds_x", "model": "gpt\x00"}, "body.model"),
])
def test_a_nul_in_a_json_field_is_400_naming_it(client: TestClient, body: dict[str, object], where: str) -> None:
    _is_400_naming(client.post("/v1/jobs", json=body), where)


def test_a_lone_surrogate_in_json_is_400(client: TestClient) -> None:
    body = b'{"training_dataset_id": "ds_\\ud800", "model": "gpt-4o-mini-2024-07-18"}'
    response = client.post("/v1/jobs", content=body, headers={"content-type": "application/json"})
    _is_400_naming(response, "body.training_dataset_id")


def test_invalid_utf8_in_json_or_path_is_a_4xx_never_a_500(client: TestClient) -> None:
    response = client.post("/v1/jobs", content=b'{"training_dataset_id": "\xff\xfe", "model": "m"}',
                           headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert client.get("/v1/jobs/job_%FF%FE").status_code == 404
    assert client.get("/v1/jobs", params={"after": b"\xff".decode("latin-1")}).status_code < 500


def test_absurdly_nested_json_is_a_4xx_not_a_500(client: TestClient) -> None:
    body = b'{"metadata": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    response = client.post("/v1/jobs", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text


def test_a_nul_in_a_form_field_or_a_file_name_is_400_naming_it(client: TestClient) -> None:
    files = {"file": ("train.jsonl", chat_jsonl(12), "application/jsonl")}
    _is_400_naming(client.post("/v1/datasets", files=files, data={"name": "a\x00b"}), "form field 'name'")
    boundary = "nul-test"  # a raw NUL in the part header (httpx would percent-encode it)
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"tr\x00ain.jsonl\"\r\n"
            f"Content-Type: application/jsonl\r\n\r\n").encode() + chat_jsonl(12) + f"\r\n--{boundary}--\r\n".encode()
    response = client.post("/v1/datasets", content=body,
                           headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    _is_400_naming(response, "file's name")


def test_a_split_seed_must_be_an_integer(client: TestClient) -> None:
    dataset_id = upload_dataset(client, chat_jsonl(20))["id"]
    for seed in (False, True, 1.5, "3"):
        response = client.post(f"/v1/datasets/{dataset_id}/split", json={"seed": seed})
        _is_400_naming(response, "body.seed")


@pytest.mark.parametrize("suffix", ["a:b", "line\nbreak", "rtl\u202eevil", "sp ace", "slash/", "ünï"])
def test_a_suffix_with_unsafe_characters_is_400_with_the_rule(client: TestClient, suffix: str) -> None:
    response = client.post("/v1/jobs", json={"training_dataset_id": "ds_x", "model": "gpt-4o-mini-2024-07-18",
                                             "suffix": suffix})
    _is_400_naming(response, "body.suffix")
    assert "A-Za-z0-9._-" in response.text


def test_a_safe_suffix_is_accepted(client: TestClient) -> None:
    dataset_id = upload_dataset(client, chat_jsonl(12))["id"]
    response = client.post("/v1/jobs", json={"training_dataset_id": dataset_id, "model": "gpt-4o-mini-2024-07-18",
                                             "suffix": "my-model_v1.2"})
    assert response.status_code == 202, response.text


def test_these_tests_run_on_postgresql(api_settings: Settings) -> None:
    assert api_settings.database_url.startswith("postgresql")
