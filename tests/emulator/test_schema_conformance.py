"""Every operation of the OpenAPI subset (``emulator/spec/``), success and error, validated against the schema.

(All other tests' responses are validated too, by the autouse fixture in ``conftest.py``; this test
makes sure the tour covers every path, so no operation escapes the check.)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import openai
import pytest
from openapi_schema_validator import OAS31Validator

from tests.emulator.data import chat_file
from tests.emulator.helpers import wait_for_status
from tests.emulator.schema import load_raw_spec, operations, schema_errors, validate_exchange
from tests.emulator.server import Exchange, RunningEmulator


def test_every_operation_and_error_kind_validates_against_the_spec(emu: RunningEmulator) -> None:
    client = emu.client(max_retries=0)
    start = len(emu.exchanges)
    uploaded = client.files.create(file=("tour.jsonl", chat_file(10)), purpose="fine-tune")
    client.files.list(limit=1)
    client.files.retrieve(uploaded.id)
    client.files.content(uploaded.id)
    job = wait_for_status(client, client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=uploaded.id).id)
    client.fine_tuning.jobs.list(limit=2)
    client.fine_tuning.jobs.list_events(job.id, limit=2)
    client.fine_tuning.jobs.checkpoints.list(job.id)
    client.chat.completions.create(model=job.fine_tuned_model or "", messages=[{"role": "user", "content": "hi"}])
    running = emu.state.seed_job(status="running", hold=True)
    client.fine_tuning.jobs.pause(running)
    client.fine_tuning.jobs.resume(running)
    client.fine_tuning.jobs.cancel(running)
    client.files.delete(uploaded.id)
    expected_errors: list[tuple[int, str | None, Callable[[], object]]] = [
        (404, None, lambda: client.files.retrieve(uploaded.id)),
        (400, None, lambda: client.fine_tuning.jobs.cancel(job.id)),
        (401, None, lambda: emu.client(api_key="sk-bad").files.list()),
        (404, None, lambda: client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])),
        (429, "/chat/completions", lambda: client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])),
        (500, "/fine_tuning/jobs", lambda: client.fine_tuning.jobs.list()),
        (503, "/files", lambda: client.files.list()),
    ]
    for status, fault_path, call in expected_errors:
        if fault_path:
            emu.state.inject(fault_path, status, count=1, retry_after=1)
        with pytest.raises(openai.APIStatusError) as caught:
            call()
        assert caught.value.status_code == status
    # The server logs an exchange once its response is sent, so the client can see the last answer a
    # moment before the log holds it: wait for it rather than race it.
    deadline = time.monotonic() + 5
    while not any(x.status == 503 for x in emu.exchanges[start:]) and time.monotonic() < deadline:
        time.sleep(0.01)
    checked = {validate_exchange(x, emu.prefix) for x in emu.exchanges[start:]}
    operations_seen = {label for label, _ in filter(None, checked)}
    assert operations_seen >= {f"{op.method} {op.template}" for op in operations()}
    assert {status for _, status in filter(None, checked)} >= {200, 400, 401, 404, 429, 500, 503}


def test_the_validator_rejects_a_body_that_breaks_the_schema() -> None:
    broken = Exchange("GET", "/v1/fine_tuning/jobs/ftjob-x", 200, "application/json",
                      json.dumps({"object": "fine_tuning.job", "id": "ftjob-x"}).encode())
    with pytest.raises(AssertionError, match="required property"):
        validate_exchange(broken, "/v1")
    bad_error = Exchange("GET", "/v1/files", 404, "application/json", b'{"error": {"message": "x"}}')
    with pytest.raises(AssertionError, match="ErrorResponse"):
        validate_exchange(bad_error, "/v1")


def test_paused_validates_only_thanks_to_the_documented_deviation(emu: RunningEmulator, client: openai.OpenAI) -> None:
    job_id = emu.state.seed_job(status="running", hold=True)
    body = client.fine_tuning.jobs.with_raw_response.pause(job_id).http_response.json()
    assert body["status"] == "paused"
    assert not schema_errors(body, "#/components/schemas/FineTuningJob")
    raw = dict(load_raw_spec())
    raw["$ref"] = "#/components/schemas/FineTuningJob"
    assert any("paused" in e.message for e in OAS31Validator(raw).iter_errors(body))
    client.fine_tuning.jobs.cancel(job_id)
