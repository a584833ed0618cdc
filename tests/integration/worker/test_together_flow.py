"""A Together AI job end to end on PostgreSQL + Redis + a real worker, against the emulator's Together dialect.

The same API, pipeline and sync as an OpenAI job; only ``provider: "together"`` and a Llama model differ.
"""

from __future__ import annotations

import pytest

from core.providers.together_convert import job_tag, tag_of
from tests.integration.worker.conftest import Stack
from tests.integration.worker.test_flow import FULL_ORDER, TERMINAL, _all, _dataset, _wait_status

pytestmark = pytest.mark.integration
LLAMA = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


def _submit_together(stack: Stack, dataset_id: str, **fields: object) -> str:
    response = stack.client.post("/v1/jobs", json={"training_dataset_id": dataset_id, "model": LLAMA,
                                                   "provider": "together", **fields})
    assert response.status_code == 202, response.text
    assert response.json()["provider"] == "together"
    return str(response.json()["id"])


def test_a_together_job_runs_to_success_with_events_metrics_checkpoints_and_its_output_model(stack: Stack) -> None:
    job_id = _submit_together(stack, _dataset(stack, 24, "tg-flow"), suffix="tgflow",
                              hyperparameters={"n_epochs": 2, "learning_rate": 2e-5, "training_type": "lora"})

    job = _wait_status(stack, job_id, TERMINAL)

    assert job["status"] == "succeeded", job
    transitions = [t["to_status"] for t in _all(stack, f"/v1/jobs/{job_id}/transitions")]
    assert set(transitions) <= set(FULL_ORDER) and transitions[:3] == FULL_ORDER[:3] and transitions[-1] == "succeeded"
    remote_client = stack.together.together_client()
    remote = remote_client.fine_tuning.retrieve(job["provider_job_id"])
    assert job["fine_tuned_model"] == remote.x_model_output_name
    assert ":tgflow-" in job["fine_tuned_model"], "the user's suffix is kept beside our tag"
    assert tag_of(remote_client.fine_tuning.list().data[0].suffix) == job_tag(job_id)
    assert job["trained_tokens"] == remote.token_count
    assert job["resolved_hyperparameters"]["learning_rate"] == 2e-5
    assert job["resolved_hyperparameters"]["training_type"] == "lora"
    messages = [e["message"] for e in _all(stack, f"/v1/jobs/{job_id}/events")]
    assert sum(m.startswith("Created fine-tuning job") for m in messages) == 1, "each provider event stored once"
    remote_steps = [int(p["global_step"]) for p in remote_client.fine_tuning.list_metrics(remote.id).metrics or []]
    assert [m["step"] for m in _all(stack, f"/v1/jobs/{job_id}/metrics")] == remote_steps
    assert remote_steps, "the loss curve comes from list_metrics"
    checkpoints = _all(stack, f"/v1/jobs/{job_id}/checkpoints")
    assert sorted(c["fine_tuned_model_checkpoint"] for c in checkpoints) == \
        sorted(c.path for c in remote_client.fine_tuning.list_checkpoints(remote.id).data)
    uploads = [c for c in stack.together.state.calls if c.method == "POST" and c.path.endswith("/preprocess")]
    assert len(uploads) >= 1


def test_a_together_create_refused_with_400_fails_the_job_with_its_message_and_no_retry(stack: Stack) -> None:
    stack.together.state.inject("/v1/fine-tunes", 400, count=1, method="POST")
    stack.together.state.reset_calls()

    job_id = _submit_together(stack, _dataset(stack, 12, "tg-refused"))
    job = _wait_status(stack, job_id, TERMINAL)

    assert job["status"] == "failed", job
    assert job["error"]["message"] == "Injected fault: HTTP 400."
    assert job["provider_job_id"] is None
    creates = [c for c in stack.together.state.calls if c.method == "POST" and c.path == "/v1/fine-tunes"]
    assert len(creates) == 1, "a final error is not retried"


def test_cancelling_a_running_together_job_ends_cancelled_at_together_too(stack: Stack) -> None:
    # The SDK sends n_epochs=1 unless told: ask for more so the job is still running when the cancel lands.
    job_id = _submit_together(stack, _dataset(stack, 200, "tg-cancel"), hyperparameters={"n_epochs": 10})
    _wait_status(stack, job_id, ("running", *TERMINAL))

    response = stack.client.post(f"/v1/jobs/{job_id}/cancel")
    assert response.status_code == 202, response.text
    job = _wait_status(stack, job_id, TERMINAL)

    assert job["status"] == "cancelled", job
    transitions = [t["to_status"] for t in _all(stack, f"/v1/jobs/{job_id}/transitions")]
    assert transitions[-2:] == ["cancelling", "cancelled"]
    assert stack.together.together_client().fine_tuning.retrieve(job["provider_job_id"]).status == "cancelled"
