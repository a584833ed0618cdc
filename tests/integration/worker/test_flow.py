"""Upload → job → provider → a terminal state, through the API, Redis, a real worker and PostgreSQL."""

from __future__ import annotations

from typing import Any, cast

import pytest

from emulator import FaultProfile
from tests.integration.worker.conftest import Stack
from tests.unit.worker.helpers import chat_lines, wait_for

pytestmark = pytest.mark.integration
MODEL = "gpt-4o-mini-2024-07-18"
FULL_ORDER = ["pending", "uploading", "submitting", "validating_files", "queued", "running", "succeeded"]
TERMINAL = ("succeeded", "failed", "cancelled")


def _dataset(stack: Stack, n: int, tag: str) -> str:
    response = stack.client.post("/v1/datasets", files={"file": (f"{tag}.jsonl", chat_lines(n, tag=tag),
                                                                  "application/jsonl")})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "valid", body
    return str(body["id"])


def _submit(stack: Stack, dataset_id: str, **fields: Any) -> str:
    response = stack.client.post("/v1/jobs", json={"training_dataset_id": dataset_id, "model": MODEL, **fields})
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending"
    return str(response.json()["id"])


def _job(stack: Stack, job_id: str) -> dict[str, Any]:
    response = stack.client.get(f"/v1/jobs/{job_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _wait_status(stack: Stack, job_id: str, statuses: tuple[str, ...], timeout: float = 60.0) -> dict[str, Any]:
    try:
        job: dict[str, Any] = wait_for(lambda: (j := _job(stack, job_id))["status"] in statuses and j,
                                       timeout=timeout, interval=0.1, what=f"job {job_id} to reach {statuses}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; job is {_job(stack, job_id)}\nworker log:\n{stack.worker_output()}") from None
    return job


def _all(stack: Stack, path: str) -> list[dict[str, Any]]:
    """Every item of a tailable list, following ``after`` as a client would."""
    items: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        response = stack.client.get(path, params={"limit": 100, **({"after": after} if after else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["data"])
        if not page["has_more"]:
            return items
        after = str(page["data"][-1]["id"])


def test_a_job_runs_to_success_with_its_whole_history_recorded(stack: Stack) -> None:
    dataset_id = _dataset(stack, 24, "flow")
    job_id = _submit(stack, dataset_id, suffix="flow", metadata={"run": "it"})

    job = _wait_status(stack, job_id, TERMINAL)

    assert job["status"] == "succeeded", job
    transitions = [t["to_status"] for t in _all(stack, f"/v1/jobs/{job_id}/transitions")]
    assert transitions == FULL_ORDER, f"transitions out of order or skipped: {transitions}"
    provider = stack.emulator.client()
    remote_events = list(provider.fine_tuning.jobs.list_events(job["provider_job_id"], limit=100))
    events = _all(stack, f"/v1/jobs/{job_id}/events")
    assert sorted(e.id for e in remote_events) == sorted(e["provider_event_id"] for e in events), \
        "every provider event stored, each once"
    metric_steps = sorted({cast(dict[str, int], e.data)["step"] for e in remote_events if e.type == "metrics"})
    assert [m["step"] for m in _all(stack, f"/v1/jobs/{job_id}/metrics")] == metric_steps
    remote_checkpoints = provider.fine_tuning.jobs.checkpoints.list(job["provider_job_id"], limit=100).data
    checkpoints = _all(stack, f"/v1/jobs/{job_id}/checkpoints")
    assert sorted(c["fine_tuned_model_checkpoint"] for c in checkpoints) == \
        sorted(c.fine_tuned_model_checkpoint for c in remote_checkpoints)
    assert checkpoints
    remote = provider.fine_tuning.jobs.retrieve(job["provider_job_id"])
    assert job["fine_tuned_model"] == remote.fine_tuned_model and ":flow:" in job["fine_tuned_model"]
    assert job["trained_tokens"] == remote.trained_tokens
    assert job["resolved_hyperparameters"]["n_epochs"] == remote.hyperparameters.n_epochs
    assert remote.metadata == {"run": "it", "finetuner_job_id": job_id}


def test_a_job_the_provider_fails_ends_failed_with_the_providers_code_and_message(stack: Stack) -> None:
    stack.emulator.state.set_fault_profile(FaultProfile(job_failure_rate=1.0, job_failure_code="server_error",
                                                        job_failure_message="Training crashed (injected)."))
    try:
        job_id = _submit(stack, _dataset(stack, 12, "fail"))
        _wait_status(stack, job_id, ("validating_files", "queued", "running", *TERMINAL))
    finally:
        stack.emulator.state.clear_faults()

    job = _wait_status(stack, job_id, TERMINAL)

    assert job["status"] == "failed", job
    assert job["error"]["code"] == "server_error"
    assert job["error"]["message"] == "Training crashed (injected)."


def test_a_create_the_provider_refuses_fails_the_job_with_its_message_and_no_retry(stack: Stack) -> None:
    stack.emulator.state.inject("/fine_tuning/jobs", 400, count=1, method="POST")
    stack.emulator.state.reset_calls()

    job_id = _submit(stack, _dataset(stack, 12, "refused"))
    job = _wait_status(stack, job_id, TERMINAL)

    assert job["status"] == "failed", job
    assert job["error"]["message"] == "Injected fault: HTTP 400."
    assert job["provider_job_id"] is None
    creates = [c for c in stack.emulator.state.calls if c.method == "POST" and c.path == "/fine_tuning/jobs"]
    assert len(creates) == 1, "a final error is not retried"


def test_cancelling_a_running_job_ends_cancelled_at_the_provider_too(stack: Stack) -> None:
    job_id = _submit(stack, _dataset(stack, 200, "cancel"))
    _wait_status(stack, job_id, ("running", *TERMINAL))

    response = stack.client.post(f"/v1/jobs/{job_id}/cancel")
    assert response.status_code == 202, response.text
    job = _wait_status(stack, job_id, TERMINAL)

    assert job["status"] == "cancelled", job
    transitions = [t["to_status"] for t in _all(stack, f"/v1/jobs/{job_id}/transitions")]
    assert transitions[-2:] == ["cancelling", "cancelled"]
    assert stack.emulator.client().fine_tuning.jobs.retrieve(job["provider_job_id"]).status == "cancelled"
