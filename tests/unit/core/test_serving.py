"""How a fine-tuned model can be called, per provider and training type, and the 422 that names the step."""

from __future__ import annotations

import pytest

from core.catalog import ModelCatalog
from core.errors import Unprocessable
from core.serving import ENDPOINT_REQUIRED, Serving, require_endpoint, serving_for

CATALOG = ModelCatalog.load()
SERVERLESS = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
NOT_SERVERLESS = "meta-llama/Meta-Llama-3.1-70B-Instruct-Reference"


def _together(base: str, **hyperparameters: object) -> Serving:
    return serving_for(provider="together", base_model=base, fine_tuned_model="acct/m:sfx:ft-1", catalog=CATALOG,
                       hyperparameters=dict(hyperparameters))


def test_openai_results_are_callable_at_once() -> None:
    serving = serving_for(provider="openai", base_model="gpt-4o-mini-2024-07-18", fine_tuned_model="ft:x",
                          catalog=CATALOG)
    assert (serving.mode, serving.endpoint_required, serving.model) == ("serverless", False, "ft:x")
    assert require_endpoint(serving, None, job_id="job_1") == "ft:x"


def test_together_serves_lora_serverless_only_where_the_catalog_says_so_and_never_a_full_fine_tune() -> None:
    assert _together(SERVERLESS).mode == "serverless"
    assert _together(SERVERLESS, training_type="lora").mode == "serverless"
    assert _together(SERVERLESS, training_type="full").mode == "dedicated_endpoint"
    not_serverless = _together(NOT_SERVERLESS)
    assert not_serverless.mode == "dedicated_endpoint" and not_serverless.endpoint_required
    assert "billed per minute" in not_serverless.how
    assert _together("someone/unlisted-model").mode == "dedicated_endpoint"


def test_resolved_training_type_wins_over_the_request() -> None:
    serving = serving_for(provider="together", base_model=SERVERLESS, fine_tuned_model="m", catalog=CATALOG,
                          hyperparameters={"training_type": "auto"}, resolved_hyperparameters={"training_type": "full"})
    assert serving.mode == "dedicated_endpoint"


def test_azure_results_need_a_deployment() -> None:
    serving = serving_for(provider="azure", base_model="gpt-4o-mini-2024-07-18", fine_tuned_model="ft:a",
                          catalog=CATALOG)
    assert (serving.mode, serving.endpoint_required) == ("deployment", True)


def test_a_model_that_needs_an_endpoint_is_refused_without_one_naming_the_step_and_called_through_one() -> None:
    serving = serving_for(provider="together", base_model=NOT_SERVERLESS, fine_tuned_model="acct/big:ft-2",
                          catalog=CATALOG)
    with pytest.raises(Unprocessable) as refused:
        require_endpoint(serving, None, job_id="job_9")
    assert refused.value.details["code"] == ENDPOINT_REQUIRED
    assert refused.value.details["param"] == "endpoint" and refused.value.details["job_id"] == "job_9"
    assert "deploy it on a dedicated endpoint" in refused.value.message
    assert "never starts" in refused.value.message
    assert require_endpoint(serving, "proj/my-endpoint", job_id="job_9") == "proj/my-endpoint"
