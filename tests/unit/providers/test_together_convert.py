"""Together's wire objects → ours: the tag in the suffix, statuses, events without ids, errors."""

from __future__ import annotations

import httpx
import pytest
import together

from core.providers.base import JobSpec
from core.providers.errors import (
    ProviderConflictError,
    ProviderFinalError,
    ProviderNotFoundError,
    ProviderRetryableError,
)
from core.providers.together_convert import (
    STATUSES,
    SUFFIX_LIMIT,
    event_from_together,
    job_create_kwargs,
    job_from_together,
    job_tag,
    tag_of,
    tagged_suffix,
)
from core.providers.together_errors import map_together_error
from core.states import from_provider


def test_the_tag_is_short_stable_and_distinct_per_job_id() -> None:
    assert job_tag("job_01a") == job_tag("job_01a")
    assert job_tag("job_01a") != job_tag("job_01b")
    assert len(job_tag("job_01a")) == 14


def test_the_users_suffix_is_trimmed_never_the_tag_and_the_whole_fits_togethers_limit() -> None:
    tag = job_tag("job_x")
    suffix = tagged_suffix("a very long suffix with spaces and ünïcode that goes on", tag)

    assert len(suffix) <= SUFFIX_LIMIT and suffix.endswith("-" + tag)
    assert tag_of(suffix) == tag
    assert tagged_suffix(None, tag) == tag and tag_of(tag) == tag


def test_only_an_exact_tag_at_the_end_counts() -> None:
    tag = job_tag("job_x")
    assert tag_of(f"pricer-{tag}") == tag
    assert tag_of(f"pricer-{tag}x") is None
    assert tag_of(f"{tag}-pricer") is None
    assert tag_of("pricer") is None and tag_of(None) is None


def test_every_together_status_maps_onto_one_of_ours() -> None:
    assert {s: from_provider(m).value for s, m in STATUSES.items()} == {
        "pending": "validating_files", "queued": "queued", "running": "running", "compressing": "running",
        "uploading": "running", "cancel_requested": "cancelling", "cancelled": "cancelled", "error": "failed",
        "completed": "succeeded"}


def test_a_failed_job_carries_the_message_of_its_job_error_event() -> None:
    job = job_from_together({"id": "ft-1", "status": "error", "created_at": "2026-12-01T10:00:00Z",
                             "events": [{"type": "job_start", "message": "started"},
                                        {"type": "job_error", "message": "CUDA out of memory", "level": "error"}]})

    assert job.status == "failed" and job.error is not None and job.error.message == "CUDA out of memory"
    assert job.created_at.year == 2026 and job.fine_tuned_model is None


def test_a_completed_job_resolves_hyperparameters_and_names_its_output_model() -> None:
    job = job_from_together({"id": "ft-2", "status": "completed", "model_output_name": "acct/base:s:ft-2",
                             "n_epochs": 3, "batch_size": 16, "learning_rate": 1e-5, "token_count": 1234,
                             "training_type": {"type": "Lora", "lora_r": 8, "lora_alpha": 16}})

    assert job.fine_tuned_model == "acct/base:s:ft-2" and job.trained_tokens == 1234
    assert job.hyperparameters == {"n_epochs": 3, "batch_size": 16, "learning_rate": 1e-5,
                                   "training_type": "lora", "lora_r": 8, "lora_alpha": 16}


def test_event_ids_are_derived_from_content_so_rereads_match_and_different_events_differ() -> None:
    raw = {"created_at": "2026-12-01T10:00:00Z", "type": "checkpoint_save", "step": 10, "message": "saved"}
    assert event_from_together(raw).id == event_from_together(dict(raw)).id
    assert event_from_together({**raw, "step": 11}).id != event_from_together(raw).id
    assert event_from_together({**raw, "level": "warning"}).level == "warn"


def test_create_sends_native_names_leaves_auto_to_together_and_tags_the_suffix() -> None:
    spec = JobSpec(model="m", training_file="file-1", suffix="pricer", seed=7,
                   hyperparameters={"n_epochs": 2, "batch_size": "auto", "learning_rate": 2e-5,
                                    "training_type": "full"},
                   metadata={"finetuner_job_id": "job_1"}, tag_key="finetuner_job_id",
                   integrations=[{"type": "wandb", "wandb": {"project": "p"}}])

    kwargs = job_create_kwargs(spec, job_tag("job_1"))

    assert kwargs == {"model": "m", "training_file": "file-1", "suffix": f"pricer-{job_tag('job_1')}",
                      "training_method": "sft", "random_seed": 7, "lora": False, "n_epochs": 2,
                      "learning_rate": 2e-5, "wandb_project_name": "p"}


def _status_error(status: int, body: object, headers: dict[str, str] | None = None) -> together.APIStatusError:
    request = httpx.Request("POST", "https://api.together.ai/v1/fine-tunes")
    response = httpx.Response(status, request=request, headers=headers or {}, json=body)
    cls = {400: together.BadRequestError, 404: together.NotFoundError, 429: together.RateLimitError}.get(
        status, together.InternalServerError)
    return cls("error", response=response, body=body)


@pytest.mark.parametrize(("status", "operation", "expected"), [
    (429, "create_job", ProviderRetryableError), (503, "get_job", ProviderRetryableError),
    (404, "get_job", ProviderNotFoundError), (400, "create_job", ProviderFinalError),
])
def test_errors_map_like_openais(status: int, operation: str, expected: type[Exception]) -> None:
    error = map_together_error(_status_error(status, {"error": {"message": "nope"}}), operation=operation)
    assert type(error) is expected and error.message == "nope"


def test_a_cancel_of_a_finished_job_is_a_conflict_and_retry_after_is_honoured() -> None:
    conflict = map_together_error(_status_error(400, {"error": {"message": "Job has already completed"}}),
                                  operation="cancel_job")
    assert isinstance(conflict, ProviderConflictError)
    limited = map_together_error(_status_error(429, {"message": "slow down"}, {"retry-after": "7"}),
                                 operation="get_job")
    assert limited.retry_after == 7.0 and limited.message == "slow down"


def test_the_together_key_never_appears_in_a_mapped_error() -> None:
    key = "tgp_v1_secret-key-0123456789abcdef"
    error = map_together_error(_status_error(401, {"error": {"message": f"Invalid API key {key}"}}),
                               operation="get_job", secrets=(key,))
    assert key not in str(error) and key not in error.message
