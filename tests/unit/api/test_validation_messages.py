"""Every create endpoint's common mistakes: the top-level ``message`` names each failing field with
its real constraint (not pydantic's union chatter); ``details`` keeps the raw list."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.api import upload_dataset

JOB = {"training_dataset_id": "ds_01m85b182g00q24819trz63f", "model": "gpt-4o-mini-2024-07-18"}
HOOK = {"url": "https://example.com/hook", "events": ["job.*"]}


def _hyper(**values: Any) -> dict[str, Any]:
    return {**JOB, "hyperparameters": values}


# (case id, method, path, JSON body, expected message: exact)
CASES: list[tuple[str, str, str, Any, str]] = [
    ("n_epochs_negative", "POST", "/v1/jobs", _hyper(n_epochs=-1),
     'hyperparameters.n_epochs must be ≥ 1 or "auto" (got -1)'),
    ("n_epochs_too_many", "POST", "/v1/jobs", _hyper(n_epochs=51),
     'hyperparameters.n_epochs must be ≤ 50 or "auto" (got 51)'),
    ("n_epochs_as_text", "POST", "/v1/jobs", _hyper(n_epochs="3"),
     'hyperparameters.n_epochs must be an integer or "auto" (got "3")'),
    ("n_epochs_fractional", "POST", "/v1/jobs", _hyper(n_epochs=2.5),
     'hyperparameters.n_epochs must be an integer or "auto" (got 2.5)'),
    ("batch_size_too_big", "POST", "/v1/jobs", _hyper(batch_size=1000),
     'hyperparameters.batch_size must be ≤ 256 or "auto" or "max" (got 1000)'),
    ("learning_rate_zero", "POST", "/v1/jobs", _hyper(learning_rate_multiplier=0),
     'hyperparameters.learning_rate_multiplier must be > 0 or "auto" (got 0)'),
    ("two_fields_wrong", "POST", "/v1/jobs", {**_hyper(n_epochs=0), "seed": -5},
     'hyperparameters.n_epochs must be ≥ 1 or "auto" (got 0); seed must be ≥ 0 (got -5)'),
    ("missing_model", "POST", "/v1/jobs", {"training_dataset_id": JOB["training_dataset_id"]},
     "model is required"),
    ("empty_model", "POST", "/v1/jobs", {**JOB, "model": ""}, "model must be at least 1 character (got \"\")"),
    ("suffix_too_long", "POST", "/v1/jobs", {**JOB, "suffix": "s" * 65},
     "suffix must be at most 64 characters (got 65 characters)"),
    ("unknown_method", "POST", "/v1/jobs", {**JOB, "method": {"type": "reinforcement"}},
     'method.type must be "supervised" or "dpo" (got "reinforcement")'),
    ("metadata_not_text", "POST", "/v1/jobs", {**JOB, "metadata": {"team": 7}},
     "metadata.team must be a string (got 7)"),
    ("metadata_value_too_long", "POST", "/v1/jobs", {**JOB, "metadata": {"team": "t" * 513}},
     "metadata.team must be at most 512 characters (got 513 characters)"),
    ("dpo_beta_too_big", "POST", "/v1/jobs",
     {**JOB, "method": {"type": "dpo", "dpo": {"hyperparameters": {"beta": 3}}}},
     'method.dpo.hyperparameters.beta must be ≤ 2 or "auto" (got 3)'),
    ("wandb_without_project", "POST", "/v1/jobs", {**JOB, "wandb": {}}, "wandb.project is required"),
    ("body_not_an_object", "POST", "/v1/jobs", [1, 2], "the request body must be an object (got a list of 2 items)"),
    ("split_fraction_one", "POST", "/v1/datasets/{dataset}/split", {"validation_fraction": 1},
     "validation_fraction must be < 1 (got 1)"),
    ("split_seed_negative", "POST", "/v1/datasets/{dataset}/split", {"seed": -1}, "seed must be ≥ 0 (got -1)"),
    ("webhook_without_events", "POST", "/v1/webhooks", {"url": HOOK["url"]}, "events is required"),
    ("webhook_empty_events", "POST", "/v1/webhooks", {**HOOK, "events": []},
     "events must be at least 1 item (got a list of 0 items)"),
    ("webhook_events_as_text", "POST", "/v1/webhooks", {**HOOK, "events": "job.*"},
     'events must be a list (got "job.*")'),
    ("page_size_too_big", "GET", "/v1/jobs?limit=500", None, "query parameter limit must be ≤ 100 (got 500)"),
]


@pytest.mark.parametrize(("method", "path", "body", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_malformed_request_says_which_field_and_which_constraint(
        auth_client: TestClient, method: str, path: str, body: Any, expected: str) -> None:
    if "{dataset}" in path:
        path = path.format(dataset=upload_dataset(auth_client)["id"])
    response = auth_client.request(method, path, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request"
    assert error["message"] == expected
    assert error["details"] and all({"loc", "msg", "type"} <= set(d) for d in error["details"]), error["details"]


def test_a_long_input_is_never_quoted_back(auth_client: TestClient) -> None:
    secret = "sk-proj-" + "x" * 40
    response = auth_client.post("/v1/jobs", json={**JOB, "suffix": secret + "y" * 30})
    assert response.status_code == 400
    assert secret not in response.text


def test_an_upload_without_its_file_part_names_the_part(auth_client: TestClient) -> None:
    response = auth_client.post("/v1/datasets", files={"name": (None, "x")})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"] == "the form has no 'file' part"
