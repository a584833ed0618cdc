"""A Together AI job end to end on PostgreSQL + Redis + a real worker, against the emulator's Together dialect.

The same API, pipeline and sync as an OpenAI job; only ``provider: "together"`` and a Llama model differ.
"""

from __future__ import annotations

import pytest

from core.providers.together_convert import job_tag, tag_of
from tests.fixtures.evaluation import jsonl, pricer_rows
from tests.integration.worker.conftest import Stack
from tests.integration.worker.test_flow import FULL_ORDER, TERMINAL, _all, _dataset, _wait_status
from tests.unit.worker.helpers import wait_for

pytestmark = pytest.mark.integration
LLAMA = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
NOT_SERVERLESS = "meta-llama/Meta-Llama-3.1-70B-Instruct-Reference"  # its LoRA results: on endpoints only


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


def test_a_model_together_serves_only_on_a_dedicated_endpoint_is_evaluated_through_the_one_the_user_deployed(
        stack: Stack) -> None:
    upload = stack.client.post("/v1/datasets", files={"file": ("pricer.jsonl", jsonl(pricer_rows(60, seed=5)),
                                                                "application/jsonl")})
    assert upload.status_code == 201, upload.text
    split = stack.client.post(f"/v1/datasets/{upload.json()['id']}/split", json={"test_fraction": 0.2, "seed": 1})
    assert split.status_code == 201, split.text
    parts = split.json()
    job_id = _submit_together(stack, parts["train"]["id"], model=NOT_SERVERLESS, hyperparameters={"n_epochs": 1})
    job = _wait_status(stack, job_id, TERMINAL)
    assert job["status"] == "succeeded", job
    model = job["fine_tuned_model"]
    assert job["serving"]["mode"] == "dedicated_endpoint" and job["serving"]["endpoint_required"] is True
    assert job["serving"]["model"] == model and "billed per minute" in job["serving"]["how"]
    stack.together.state.reset_calls()
    evaluation_body = {"dataset_id": parts["test"]["id"], "task": "number", "compare_with": ["baseline"]}

    refused = stack.client.post(f"/v1/jobs/{job_id}/evaluations", json=evaluation_body)

    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["details"]["code"] == "endpoint_required" and error["details"]["param"] == "endpoint"
    assert "dedicated endpoint" in error["message"] and "never starts" in error["message"]
    assert not [c for c in stack.together.state.calls if "/endpoints" in c.path or "/chat/" in c.path], \
        "refusing asks the provider nothing and starts nothing"

    # What the user does themselves (billed per minute at Together): deploy an endpoint for the model.
    remote = stack.together.together_client()
    endpoint = remote.endpoints.create(project_id="proj-eval", name="pricer")
    deployment = remote.endpoints.deployments.create(endpoint.id, project_id="proj-eval", name="v1", model=model,
                                                     autoscaling={"min_replicas": 1, "max_replicas": 1})
    wait_for(lambda: remote.endpoints.deployments.retrieve(deployment.id, endpoint_id=endpoint.id,
                                                            project_id="proj-eval").status.state
             == "DEPLOYMENT_STATE_READY", timeout=30, interval=0.2, what="the deployment to become ready")
    stack.together.state.reset_calls()  # from here on, every call is the service's

    created = stack.client.post(f"/v1/jobs/{job_id}/evaluations", json={**evaluation_body, "endpoint": endpoint.name})
    assert created.status_code == 202, created.text
    evaluation = wait_for(lambda: (e := stack.client.get(f"/v1/evaluations/{created.json()['id']}").json())["status"]
                          in ("succeeded", "failed", "cancelled") and e, timeout=60, interval=0.2,
                          what="the evaluation to end")

    assert evaluation["status"] == "succeeded", evaluation
    assert evaluation["targets"][0]["endpoint"] == endpoint.name and evaluation["targets"][0]["model"] == model
    assert evaluation["results"]["fine_tuned"]["parse_rate"] == 1.0
    assert evaluation["results"]["fine_tuned"]["metrics"]["rmse"] < evaluation["results"]["baseline"]["metrics"]["rmse"]
    chats = [c for c in stack.together.state.calls if c.path == "/v1/chat/completions"]
    assert len(chats) == parts["test"]["num_examples"], "one call per held-out example, all through the endpoint"
    assert not [c for c in stack.together.state.calls if c.method != "GET" and "/endpoints" in c.path], \
        "the service created, changed or deleted no endpoint"
