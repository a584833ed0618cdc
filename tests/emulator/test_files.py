"""Files through the SDK: upload, list (purpose, limit, after, order), retrieve, content, delete."""

from __future__ import annotations

import uuid

import openai
import pytest

from tests.emulator.data import chat_file
from tests.emulator.server import RunningEmulator


def test_upload_stores_the_bytes_and_reports_them_like_openai(client: openai.OpenAI) -> None:
    content = chat_file(10)
    uploaded = client.files.create(file=("shop.jsonl", content), purpose="fine-tune")
    assert uploaded.id.startswith("file-")
    assert (uploaded.filename, uploaded.purpose, uploaded.status) == ("shop.jsonl", "fine-tune", "processed")
    assert uploaded.bytes == len(content)
    assert client.files.retrieve(uploaded.id) == uploaded
    assert client.files.content(uploaded.id).content == content


def test_fine_tune_uploads_must_be_jsonl(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(file=("shop.csv", b"a,b\n"), purpose="fine-tune")
    assert ".jsonl" in caught.value.message
    assert caught.value.body["param"] == "file"  # type: ignore[index]


def test_other_purposes_accept_other_formats(client: openai.OpenAI) -> None:
    uploaded = client.files.create(file=("notes.txt", b"hello"), purpose="user_data")
    assert uploaded.purpose == "user_data"


def test_expires_after_sets_expires_at(client: openai.OpenAI) -> None:
    uploaded = client.files.create(file=("batch.jsonl", b"{}\n"), purpose="batch",
                                   expires_after={"anchor": "created_at", "seconds": 3600})
    assert uploaded.expires_at == uploaded.created_at + 3600


def test_listing_pages_newest_first_and_filters_by_purpose(emu: RunningEmulator, client: openai.OpenAI) -> None:
    names = [f"page-{uuid.uuid4().hex[:6]}-{i}.txt" for i in range(5)]
    ids = [client.files.create(file=(name, b"x"), purpose="user_data").id for name in names]
    listed = [f.id for f in client.files.list(purpose="user_data", limit=2)]  # auto-paging, 2 per request
    assert [i for i in listed if i in ids] == list(reversed(ids))
    first = client.files.list(purpose="user_data", limit=2)
    assert first.has_more and len(first.data) == 2
    second = client.files.list(purpose="user_data", limit=2, after=first.data[-1].id)
    assert second.data[0].id not in {f.id for f in first.data}
    ascending = [f.id for f in client.files.list(purpose="user_data", order="asc")]
    assert [i for i in ascending if i in ids] == ids
    assert all(f.purpose == "fine-tune" for f in client.files.list(purpose="fine-tune"))
    calls = [c for c in emu.state.calls if c.path == "/files" and c.method == "GET"]
    assert calls[-1].query["purpose"] == "fine-tune"


def test_an_empty_list_has_null_first_and_last_ids(client: openai.OpenAI) -> None:
    page = client.files.list(purpose="vision")
    assert page.data == [] and page.has_more is False


def test_deleted_files_are_gone(client: openai.OpenAI) -> None:
    uploaded = client.files.create(file=("gone.jsonl", chat_file(10)), purpose="fine-tune")
    deleted = client.files.delete(uploaded.id)
    assert (deleted.id, deleted.deleted) == (uploaded.id, True)
    with pytest.raises(openai.NotFoundError) as caught:
        client.files.retrieve(uploaded.id)
    assert caught.value.body == {"message": f"No such File object: {uploaded.id}", "type": "invalid_request_error",
                                 "param": "id", "code": None}
    with pytest.raises(openai.NotFoundError):
        client.files.content(uploaded.id)


def test_missing_purpose_is_a_bad_request(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(file=("x.jsonl", b"{}\n"), purpose="")  # type: ignore[arg-type]
    assert caught.value.body["param"] == "purpose"  # type: ignore[index]
