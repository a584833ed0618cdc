"""``/v1/datasets``: streamed upload, validation report, content, listing, idempotency, size limit."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from core.config import Settings
from core.datasets.service import DatasetFormat
from core.datasets.validate import FORMAT_HINTS
from core.models import Dataset
from tests.fixtures.api import TenantKey, chat_jsonl, upload_dataset


def _count_datasets(app: FastAPI, tenant: TenantKey) -> int:
    """The tenant's rows only: the database may be shared with other tests (PostgreSQL runs)."""
    with app.state.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(Dataset)
                                  .where(Dataset.tenant_id == tenant.tenant_id)) or 0)


def _stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_valid_upload_is_201_with_its_report(auth_client: TestClient) -> None:
    content = chat_jsonl(12)
    body = upload_dataset(auth_client, content, filename="sentiment.jsonl")
    assert body["id"].startswith("ds_")
    assert body["name"] == "sentiment.jsonl"
    assert body["status"] == "valid"
    assert body["format"] == "chat"
    assert body["num_examples"] == 12
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["bytes"] == len(content)
    assert body["created_at"].endswith("Z")
    report = body["report"]
    assert report["errors"] == []
    assert report["billed_tokens"] > 0 and isinstance(report["n_epochs"], int) and report["n_epochs"] >= 1


def test_invalid_upload_is_still_stored_with_line_numbered_errors(auth_client: TestClient) -> None:
    lines = chat_jsonl(11).decode().splitlines()
    lines[2] = "{not json"
    lines[5] = json.dumps({"messages": [{"role": "user", "content": "no answer"}]})
    body = upload_dataset(auth_client, "\n".join(lines).encode(), name="broken")
    assert body["status"] == "invalid"
    assert body["name"] == "broken"
    codes = [(e["line"], e["code"]) for e in body["report"]["errors"]]
    assert codes == [(3, "invalid_json"), (6, "example_missing_assistant_message")]
    assert body["canonical_sha256"] is None
    again = auth_client.get(f"/v1/datasets/{body['id']}/report").json()
    assert again["status"] == "invalid" and again["report"]["errors"] == body["report"]["errors"]


def test_content_is_canonical_by_default_and_original_on_request(auth_client: TestClient) -> None:
    content = chat_jsonl(10).replace(b"\n", b"\r\n").replace(b'", "', b'",   "')  # CRLF, loose spacing
    body = upload_dataset(auth_client, content)
    canonical = auth_client.get(f"/v1/datasets/{body['id']}/content")
    assert canonical.status_code == 200
    lines = canonical.content.decode().splitlines()
    assert len(lines) == 10 and all(json.loads(line)["messages"] for line in lines)
    assert hashlib.sha256(canonical.content).hexdigest() == body["canonical_sha256"]
    original = auth_client.get(f"/v1/datasets/{body['id']}/content", params={"variant": "original"})
    assert original.content == content


def test_canonical_content_of_an_invalid_dataset_is_409(auth_client: TestClient) -> None:
    body = upload_dataset(auth_client, b"nope\n")
    response = auth_client.get(f"/v1/datasets/{body['id']}/content")
    assert response.status_code == 409
    assert "variant=original" in response.json()["error"]["message"]


def test_list_is_newest_first_and_pages_with_after(auth_client: TestClient) -> None:
    ids = [upload_dataset(auth_client, chat_jsonl(10, start=i))["id"] for i in range(5)]
    first = auth_client.get("/v1/datasets", params={"limit": 2}).json()
    assert [d["id"] for d in first["data"]] == ids[::-1][:2] and first["has_more"] is True
    second = auth_client.get("/v1/datasets", params={"limit": 2, "after": first["data"][-1]["id"]}).json()
    assert [d["id"] for d in second["data"]] == ids[::-1][2:4] and second["has_more"] is True
    last = auth_client.get("/v1/datasets", params={"limit": 2, "after": second["data"][-1]["id"]}).json()
    assert [d["id"] for d in last["data"]] == ids[:1] and last["has_more"] is False


def test_same_idempotency_key_and_upload_returns_the_first_dataset(api_app: FastAPI, auth_client: TestClient,
                                                                   tenant: TenantKey) -> None:
    headers = {"Idempotency-Key": "upload-1"}
    first = upload_dataset(auth_client, chat_jsonl(), headers=headers, name="a")
    second = upload_dataset(auth_client, chat_jsonl(), headers=headers, name="a")
    assert second == first
    assert _count_datasets(api_app, tenant) == 1


def test_same_idempotency_key_with_other_bytes_or_options_is_422(auth_client: TestClient) -> None:
    headers = {"Idempotency-Key": "upload-2"}
    first = upload_dataset(auth_client, chat_jsonl(), headers=headers)
    other_bytes = upload_dataset(auth_client, chat_jsonl(13), headers=headers, expect=422)
    assert other_bytes["error"]["type"] == "unprocessable"
    assert "Idempotency-Key" in other_bytes["error"]["message"]
    assert other_bytes["error"]["details"]["dataset_id"] == first["id"]
    upload_dataset(auth_client, chat_jsonl(), headers=headers, name="renamed", expect=422)


def test_upload_over_the_limit_is_413_and_stores_nothing(
    api_app: FastAPI, api_settings: Settings, auth_client: TestClient, tenant: TenantKey,
) -> None:
    api_settings.max_upload_bytes = 4096
    response = auth_client.post("/v1/datasets", files={"file": ("big.jsonl", chat_jsonl(100), "application/jsonl")})
    assert response.status_code == 413, response.text
    assert response.json()["error"]["type"] == "payload_too_large"
    assert _count_datasets(api_app, tenant) == 0
    assert _stored_files(api_settings.storage_path) == [], "a refused upload must leave no bytes behind"


def test_upload_over_the_limit_without_content_length_is_cut_off_while_streaming(
    api_app: FastAPI, api_settings: Settings, auth_client: TestClient, tenant: TenantKey,
) -> None:
    """A chunked body gives no length up front: the limit must be enforced as the bytes arrive."""
    api_settings.max_upload_bytes = 50_000
    boundary = "xyzzy"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\n'
            f"Content-Type: application/jsonl\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body() -> Iterator[bytes]:  # a generator makes httpx send it chunked
        yield head
        for i in range(200):
            yield chat_jsonl(5, start=i * 5)
        yield tail

    response = auth_client.post("/v1/datasets", content=body(),
                                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 413, response.text
    assert _count_datasets(api_app, tenant) == 0
    assert _stored_files(api_settings.storage_path) == []


def test_identical_bytes_are_stored_once(api_settings: Settings, auth_client: TestClient) -> None:
    first = upload_dataset(auth_client, chat_jsonl(), name="one")
    second = upload_dataset(auth_client, chat_jsonl(), name="two")
    assert first["id"] != second["id"] and first["sha256"] == second["sha256"]
    root = api_settings.storage_path
    blobs = sorted(p.name for p in _stored_files(root) if p.relative_to(root).parts[0] != "tmp")
    assert blobs == sorted({first["sha256"], first["canonical_sha256"]}), "one original and one canonical blob"


def test_form_problems_are_400(auth_client: TestClient) -> None:
    no_file = auth_client.post("/v1/datasets", data={"name": "x"},
                               files={"other": ("x.jsonl", b"{}", "application/jsonl")})
    assert no_file.status_code == 400 and "'file'" in no_file.json()["error"]["message"]
    not_multipart = auth_client.post("/v1/datasets", json={"file": "inline"})
    assert not_multipart.status_code == 400
    bad_format = auth_client.post("/v1/datasets", data={"format": "xml"},
                                  files={"file": ("x.jsonl", chat_jsonl(), "application/jsonl")})
    assert bad_format.status_code == 400 and bad_format.json()["error"]["details"] == {"param": "format"}
    cut_short = b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\nab'
    truncated = auth_client.post("/v1/datasets", content=cut_short,
                                 headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert truncated.status_code == 400


def test_csv_with_named_columns_is_converted_to_chat(auth_client: TestClient) -> None:
    rows = "".join(f"question {i},answer {i}\n" for i in range(12))
    body = upload_dataset(auth_client, f"q,a\n{rows}".encode(), filename="d.csv", format="csv", columns="q,a",
                          model="gpt-4o-mini")
    assert body["status"] == "valid", body["report"]["errors"]
    assert (body["format"], body["num_examples"]) == ("csv", 12)
    assert body["report"]["estimated_cost_usd"] > 0, "a model given at upload prices the estimate"
    first = json.loads(auth_client.get(f"/v1/datasets/{body['id']}/content").content.splitlines()[0])
    assert [m["role"] for m in first["messages"]][-2:] == ["user", "assistant"]
    original = auth_client.get(f"/v1/datasets/{body['id']}/content", params={"variant": "original"})
    assert original.headers["content-type"].startswith("text/csv")


def test_columns_that_do_not_name_two_columns_are_422(auth_client: TestClient) -> None:
    response = auth_client.post("/v1/datasets", data={"format": "csv", "columns": "a,b,c"},
                                files={"file": ("d.csv", b"a,b,c\n1,2,3\n", "text/csv")})
    assert response.status_code == 422
    assert response.json()["error"]["details"] == {"param": "columns"}


def test_the_formats_we_accept_are_the_validators() -> None:
    assert get_args(DatasetFormat) == FORMAT_HINTS


def test_declared_length_over_the_limit_is_refused_before_reading(api_settings: Settings,
                                                                  auth_client: TestClient) -> None:
    api_settings.max_upload_bytes = 1000
    big = b"x" * (1024 * 1024 + 2000)  # past the limit plus the form's allowance
    response = auth_client.post("/v1/datasets", files={"file": ("big.jsonl", big, "application/jsonl")})
    assert response.status_code == 413
    assert response.json()["error"]["details"] == {"limit_bytes": 1000}
    assert _stored_files(api_settings.storage_path) == []


def test_upload_without_a_key_is_401_and_stores_nothing(api_client: TestClient, api_settings: Settings) -> None:
    response = api_client.post("/v1/datasets", files={"file": ("t.jsonl", chat_jsonl(), "application/jsonl")})
    assert response.status_code == 401
    assert _stored_files(api_settings.storage_path) == []
