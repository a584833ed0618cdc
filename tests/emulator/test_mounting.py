"""``create_app`` mounted under another prefix, as the service's embedded mode does (/emulator/v1)."""

from __future__ import annotations

import openai
import pytest

from emulator import EmulatorSettings
from tests.emulator.server import EmulatorFactory, RunningEmulator


@pytest.fixture(scope="module")
def embedded(tracked_server: EmulatorFactory) -> RunningEmulator:
    return tracked_server(EmulatorSettings(api_key="sk-embedded", organization="acme"), prefix="/emulator/v1")


def test_the_sdk_works_under_a_deeper_prefix_and_the_call_log_is_relative(embedded: RunningEmulator) -> None:
    assert embedded.base_url.endswith("/emulator/v1")
    client = embedded.client()
    uploaded = client.files.create(file=("t.jsonl", b"{}\n"), purpose="fine-tune")
    client.files.retrieve(uploaded.id)
    assert [(c.method, c.path) for c in embedded.state.calls][-2:] == [("POST", "/files"),
                                                                      ("GET", f"/files/{uploaded.id}")]


def test_fault_patterns_are_relative_to_the_mount_point(embedded: RunningEmulator) -> None:
    embedded.state.inject("/fine_tuning/jobs", 503, count=1)
    with pytest.raises(openai.InternalServerError):
        embedded.client(max_retries=0).fine_tuning.jobs.list()


def test_unknown_routes_answer_with_openais_error_body(embedded: RunningEmulator) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        embedded.client().get("/models/unknown-thing", cast_to=object)
    assert "Invalid URL (GET /emulator/v1/models/unknown-thing)" in caught.value.message


def test_the_organization_names_fine_tuned_models(embedded: RunningEmulator) -> None:
    job_id = embedded.state.seed_job(status="succeeded", suffix="demo")
    job = embedded.client().fine_tuning.jobs.retrieve(job_id)
    assert job.fine_tuned_model is not None and job.fine_tuned_model.split(":")[2:4] == ["acme", "demo"]
