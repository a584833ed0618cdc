"""The dataset corpus through ``POST /v1/datasets``: a stored report naming the line, never a 500,
and nothing stored earlier is changed by what comes after. The few corpus files that can never be
a dataset (empty, binary, not UTF-8 near the start) are refused with 422 and not stored."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.api import chat_jsonl, upload_dataset
from tests.unit.datasets.corpus import EXPECTED_WARNINGS, CorpusCase, cases

CASES = cases()
#: Not text at all within the first 8 KiB: refused before storing (core/datasets/sniff.py).
REFUSED = {"empty_file", "invalid_utf8", "utf16_file", "binary_file"}


def _expect_outcome(body: dict[str, Any], case: CorpusCase) -> None:
    report = body["report"]
    if case.expected_code is None:
        assert body["status"] == "valid", (case.name, report["errors"][:3])
        if case.name in EXPECTED_WARNINGS:
            assert EXPECTED_WARNINGS[case.name] in {w["code"] for w in report["warnings"]}, report["warnings"]
        return
    assert body["status"] == "invalid", case.name
    assert report["error_counts"].get(case.expected_code, 0) >= 1, (case.name, report["error_counts"])
    first = next(e for e in report["errors"] if e["code"] == case.expected_code)
    assert first["line"] == case.expected_line, (case.name, first)
    assert first["message"], "every error says what is wrong"


@pytest.mark.parametrize("corpus_case", CASES, ids=[c.name for c in CASES])
def test_each_corpus_file_is_stored_with_the_expected_report(auth_client: TestClient, corpus_case: CorpusCase) -> None:
    if corpus_case.name in REFUSED:
        refused = upload_dataset(auth_client, corpus_case.content, filename=corpus_case.name, expect=422)
        assert refused["error"]["type"] == "unsupported_file", refused
        return
    body = upload_dataset(auth_client, corpus_case.content, filename=corpus_case.name)
    _expect_outcome(body, corpus_case)
    assert body["sha256"] == hashlib.sha256(corpus_case.content).hexdigest()
    report = auth_client.get(f"/v1/datasets/{body['id']}/report")
    assert report.status_code == 200 and report.json()["report"] == body["report"]
    original = auth_client.get(f"/v1/datasets/{body['id']}/content", params={"variant": "original"})
    assert original.status_code == 200 and original.content == corpus_case.content, "original bytes kept as sent"


@pytest.mark.parametrize(("files", "data"), [
    (None, {"name": "no file part"}),
    ({"not_file": ("x.jsonl", b"{}\n", "application/jsonl")}, None),
    (None, None),
])
def test_a_request_that_is_not_a_dataset_is_a_4xx(auth_client: TestClient, files: Any, data: Any) -> None:
    response = auth_client.post("/v1/datasets", files=files, data=data)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["message"]


def test_json_body_instead_of_multipart_is_a_4xx(auth_client: TestClient) -> None:
    response = auth_client.post("/v1/datasets", json={"messages": []})
    assert 400 <= response.status_code < 500, response.text


def _snapshot(client: TestClient, dataset_id: str) -> tuple[dict[str, Any], str, str]:
    row = client.get(f"/v1/datasets/{dataset_id}").json()
    canonical = hashlib.sha256(client.get(f"/v1/datasets/{dataset_id}/content").content).hexdigest()
    original = hashlib.sha256(client.get(f"/v1/datasets/{dataset_id}/content",
                                         params={"variant": "original"}).content).hexdigest()
    return row, canonical, original


def test_the_whole_corpus_leaves_what_was_stored_before_unchanged(auth_client: TestClient) -> None:
    first = upload_dataset(auth_client, chat_jsonl(12), filename="keep.jsonl")
    before = _snapshot(auth_client, first["id"])
    for corpus_case in CASES:
        upload_dataset(auth_client, corpus_case.content, filename=corpus_case.name,
                       expect=422 if corpus_case.name in REFUSED else 201)
    assert _snapshot(auth_client, first["id"]) == before
    listed = auth_client.get("/v1/datasets", params={"limit": 100}).json()["data"]
    assert len(listed) == len(CASES) - len(REFUSED) + 1, "every text upload, valid or not, is stored"
