"""``provider`` on ``POST /v1/jobs``: each provider's own models and hyperparameter names, and ``GET /v1/models``."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.deps import get_today
from tests.fixtures.api import chat_jsonl, create_job, upload_dataset
from tests.unit.api.test_jobs import real_openai_app, real_openai_client  # noqa: F401  (fixtures)

LLAMA = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


@pytest.fixture
def dataset_id(auth_client: TestClient) -> str:
    return str(upload_dataset(auth_client, chat_jsonl(12))["id"])


def test_a_together_job_with_a_llama_model_and_native_hyperparameters_is_accepted(auth_client: TestClient,
                                                                                   dataset_id: str) -> None:
    job = create_job(auth_client, dataset_id, model=LLAMA, provider="together",
                     hyperparameters={"n_epochs": 2, "learning_rate": 1e-5, "batch_size": "max",
                                      "training_type": "lora", "lora_r": 16, "n_checkpoints": 2})

    assert job["provider"] == "together"
    assert job["hyperparameters"] == {"n_epochs": 2, "batch_size": "max", "learning_rate": 1e-5,
                                      "training_type": "lora", "lora_r": 16, "n_checkpoints": 2}


def test_a_model_of_another_provider_is_422_listing_the_providers_models(auth_client: TestClient,
                                                                         dataset_id: str) -> None:
    body = create_job(auth_client, dataset_id, model="gpt-4o-mini-2024-07-18", provider="together", expect=422)

    assert "not fine-tunable on provider 'together'" in body["error"]["message"]
    assert LLAMA in body["error"]["message"], "the provider's known models are listed"
    assert body["error"]["details"]["param"] == "model"
    body = create_job(auth_client, dataset_id, model=LLAMA, provider="openai", expect=422)
    assert "gpt-4o-mini-2024-07-18" in body["error"]["message"]


def test_an_openai_only_hyperparameter_sent_to_together_is_422_naming_togethers(auth_client: TestClient,
                                                                                dataset_id: str) -> None:
    body = create_job(auth_client, dataset_id, model=LLAMA, provider="together",
                      hyperparameters={"learning_rate_multiplier": 2.0}, expect=422)

    message = body["error"]["message"]
    assert "learning_rate_multiplier" in message and "together takes" in message and "learning_rate" in message
    assert body["error"]["details"]["param"] == "hyperparameters"


def test_a_misspelt_hyperparameter_is_422_naming_the_providers_names(auth_client: TestClient,
                                                                    dataset_id: str) -> None:
    body = create_job(auth_client, dataset_id, hyperparameters={"epochs": 3}, expect=422)
    assert "['epochs']" in body["error"]["message"] and "openai takes: n_epochs" in body["error"]["message"]


def test_a_together_only_hyperparameter_sent_to_openai_is_422(auth_client: TestClient, dataset_id: str) -> None:
    for given in ({"learning_rate": 1e-5}, {"n_checkpoints": 3}, {"batch_size": "max"}):
        body = create_job(auth_client, dataset_id, hyperparameters=given, expect=422)
        assert next(iter(given)) in body["error"]["message"], body


@pytest.mark.parametrize("given", [{"lora_r": 0}, {"learning_rate": -1.0}, {"training_type": "qlora"},
                                   {"warmup_ratio": 1.5}])
def test_a_bad_together_value_is_422_naming_it(auth_client: TestClient, dataset_id: str,
                                               given: dict[str, object]) -> None:
    body = create_job(auth_client, dataset_id, model=LLAMA, provider="together", hyperparameters=given, expect=422)
    assert f"hyperparameters.{next(iter(given))}" in body["error"]["message"]


def test_full_training_on_a_lora_only_model_is_422(auth_client: TestClient, dataset_id: str) -> None:
    body = create_job(auth_client, dataset_id, model="Qwen/Qwen2.5-72B-Instruct", provider="together",
                      hyperparameters={"training_type": "full"}, expect=422)
    assert "lora" in body["error"]["message"]


def test_an_unknown_provider_is_refused_before_anything_is_stored(auth_client: TestClient, dataset_id: str) -> None:
    response = auth_client.post("/v1/jobs", json={"training_dataset_id": dataset_id, "model": LLAMA,
                                                  "provider": "openai-compatible"})
    assert response.status_code in (400, 422) and "provider" in response.text


def test_after_openais_cutoff_the_refusal_names_the_providers_that_remain(
        real_openai_app: FastAPI, real_openai_client: TestClient) -> None:  # noqa: F811
    real_openai_app.dependency_overrides[get_today] = lambda: dt.date(2027, 1, 7)
    dataset = upload_dataset(real_openai_client, chat_jsonl())

    body = create_job(real_openai_client, dataset["id"], expect=422)

    assert "stopped accepting new fine-tuning jobs" in body["error"]["message"]
    assert "azure, together" in body["error"]["message"]


def test_models_lists_the_catalog_per_provider_with_what_a_client_chooses_by(auth_client: TestClient) -> None:
    response = auth_client.get("/v1/models", params={"provider": "together"})

    assert response.status_code == 200, response.text
    models = {m["model"]: m for m in response.json()["data"]}
    assert {m["provider"] for m in models.values()} == {"together"}
    llama = models[LLAMA]
    assert llama["methods"] == ["supervised", "dpo"] and llama["training_types"] == ["lora", "full"]
    assert llama["price_per_million_usd"] > 0 and llama["token_limit"] > 0 and llama["serverless_lora"] is True
    assert llama["token_count_method"] == "estimated" and llama["last_new_job_day"] is None
    openai_models = auth_client.get("/v1/models", params={"provider": "openai"}).json()["data"]
    assert all(m["last_new_job_day"] == "2027-01-06" for m in openai_models)
    assert auth_client.get("/v1/models", params={"provider": "nope"}).status_code in (400, 422)
