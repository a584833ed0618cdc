"""What can never be a dataset is refused with 422 ``unsupported_file`` and not stored; any text
file, however wrong, is still stored (201, ``status: "invalid"``) with its line-by-line report."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from core.config import Settings
from core.models import Dataset
from tests.fixtures.api import TenantKey, chat_jsonl, upload_dataset

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


def _xlsx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return out.getvalue()


REFUSED = [
    ("empty", b"", "empty"),
    ("png", PNG, "PNG image"),
    ("xlsx", _xlsx(), "ZIP archive"),
    ("pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "PDF document"),
    ("gzip_of_jsonl", gzip.compress(chat_jsonl(12)), "gzip"),
    ("jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "JPEG image"),
    ("nul_in_first_8k", chat_jsonl(2) + b'{"messages": "\x00"}\n' + chat_jsonl(10), "NUL byte at offset"),
    ("utf16_with_bom", "\ufeff".encode("utf-16-le") + chat_jsonl(12).decode().encode("utf-16-le"), "NUL byte"),
    ("latin1_in_first_8k", b"prompt,completion\n" + b"".join(b"p%d,c%d\n" % (i, i) for i in range(9))
     + b"p,caf\xe9\n", "not UTF-8 text (byte 0xe9"),
]


def _count(app: FastAPI, tenant: TenantKey) -> int:
    with app.state.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(Dataset)
                                  .where(Dataset.tenant_id == tenant.tenant_id)) or 0)


def _blobs(settings: Settings) -> list[Path]:
    root = settings.storage_path
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.parametrize(("content", "reason"), [(c, r) for _, c, r in REFUSED], ids=[n for n, _, _ in REFUSED])
def test_what_can_never_be_a_dataset_is_422_unsupported_file_and_not_stored(
        auth_client: TestClient, api_app: FastAPI, api_settings: Settings, tenant: TenantKey,
        content: bytes, reason: str) -> None:
    before = _blobs(api_settings)
    body = upload_dataset(auth_client, content, expect=422)
    assert body["error"]["type"] == "unsupported_file", body
    assert reason in body["error"]["message"], body["error"]["message"]
    assert body["error"]["details"]["param"] == "file"
    assert _count(api_app, tenant) == 0, "a refused upload must not be stored"
    assert _blobs(api_settings) == before, "a refused upload must leave no blob behind"


def _past_8k(bad: bytes) -> bytes:
    good = chat_jsonl(80)
    assert len(good) > 8 * 1024
    return good + bad + b"\n" + chat_jsonl(2)


KEPT = [
    ("not_json_text", b"{hello, this is not json\n" * 12, "invalid_json"),
    ("nul_past_8k", _past_8k(b'{"messages": "\x00"}'), None),
    ("bad_byte_past_8k", _past_8k(b'{"messages": "caf\xe9"}'), None),
]


@pytest.mark.parametrize(("content", "code"), [(c, k) for _, c, k in KEPT], ids=[n for n, _, _ in KEPT])
def test_a_text_file_with_wrong_lines_is_still_201_invalid_with_its_report(
        auth_client: TestClient, api_app: FastAPI, tenant: TenantKey, content: bytes, code: str | None) -> None:
    body = upload_dataset(auth_client, content)
    assert body["status"] == "invalid", body
    errors = body["report"]["errors"]
    assert errors, body["report"]
    if code is not None:
        assert errors[0]["code"] == code
    else:
        assert errors[0]["line"] == 81, errors[:3]
    assert _count(api_app, tenant) == 1


def test_an_upload_for_an_unknown_model_warns_which_limits_were_assumed(auth_client: TestClient) -> None:
    body = upload_dataset(auth_client, chat_jsonl(12), model="gpt-5-ultra")
    assert body["status"] == "valid"
    warning = next(w for w in body["report"]["warnings"] if w["code"] == "unknown_model")
    assert "'gpt-5-ultra'" in warning["message"]
    assert "o200k_base" in warning["message"] and "16,385-token limit" in warning["message"]
    known = upload_dataset(auth_client, chat_jsonl(12, start=50), model="gpt-4o-mini-2024-07-18")
    assert "unknown_model" not in {w["code"] for w in known["report"]["warnings"]}
