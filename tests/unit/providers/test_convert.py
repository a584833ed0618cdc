"""OpenAI objects to neutral DTOs and back: the fields the worker stores must survive the trip."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.providers import JobSpec, provider_filename, sha256_from_provider_filename
from core.providers.openai_convert import event_from_openai, job_create_kwargs, job_from_openai
from tests.unit.providers import payloads

SHA = "0123456789abcdef" * 4


def test_provider_filename_carries_the_sha256_and_nothing_else() -> None:
    assert provider_filename(SHA) == f"finetuner-{SHA}.jsonl"
    assert provider_filename(SHA.upper(), "my data.csv") == provider_filename(SHA), "same bytes, one name"
    assert sha256_from_provider_filename(provider_filename(SHA)) == SHA
    assert sha256_from_provider_filename("train.jsonl") is None
    with pytest.raises(ValueError, match="sha256"):
        provider_filename("not-a-hash")


def test_succeeded_job_keeps_resolved_values_and_aware_timestamps() -> None:
    job = job_from_openai(payloads.job(
        status="succeeded", finished_at=payloads.CREATED + 60, trained_tokens=1234, fine_tuned_model="ft:x:org:s:1",
        hyperparameters={"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.8},
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3, "batch_size": 1}}},
        result_files=["file-res"], metadata={"finetuner_job_id": "job_1"}, validation_file="file-val",
    ))
    assert job.hyperparameters == {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.8}
    assert job.created_at == datetime.fromtimestamp(payloads.CREATED, tz=UTC)
    assert job.finished_at is not None and (job.finished_at - job.created_at).total_seconds() == 60
    assert (job.trained_tokens, job.fine_tuned_model, job.result_files) == (1234, "ft:x:org:s:1", ["file-res"])
    assert job.metadata == {"finetuner_job_id": "job_1"} and job.validation_file == "file-val"
    assert job.error is None and job.estimated_finish is None


def test_dpo_hyperparameters_come_from_the_method() -> None:
    job = job_from_openai(payloads.job(
        hyperparameters={},
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.1, "n_epochs": 2}}},
    ))
    assert job.hyperparameters == {"beta": 0.1, "n_epochs": 2}
    assert job.method is not None and job.method["type"] == "dpo"


def test_failed_job_error_and_unlisted_paused_status_are_kept() -> None:
    failed = job_from_openai(payloads.job(status="failed", error={
        "code": "invalid_training_file", "message": "Line 3 is not valid JSON", "param": "training_file"}))
    assert failed.error is not None
    assert (failed.error.code, failed.error.message, failed.error.param) == (
        "invalid_training_file", "Line 3 is not valid JSON", "training_file")
    assert job_from_openai(payloads.job(status="paused")).status == "paused"
    assert job_from_openai(payloads.job(error={})).error is None, "OpenAI sends {} for no error"


def test_metrics_event_keeps_its_data() -> None:
    event = event_from_openai(payloads.event("ev-1", type="metrics", message="Step 1/10: training loss=1.20",
                                             data={"step": 1, "train_loss": 1.2, "train_mean_token_accuracy": 0.5}))
    assert event.type == "metrics" and event.data == {"step": 1, "train_loss": 1.2, "train_mean_token_accuracy": 0.5}
    assert event_from_openai(payloads.event("ev-2", type=None)).type == "message"


def test_short_form_hyperparameters_are_sent_as_a_supervised_method() -> None:
    wandb = {"type": "wandb", "wandb": {"project": "p"}}
    kwargs = job_create_kwargs(JobSpec(model="gpt-4o-mini", training_file="file-t", validation_file="file-v",
                                       hyperparameters={"n_epochs": 3, "batch_size": "auto"}, suffix="s", seed=0,
                                       metadata={"k": "v"}, integrations=[wandb]))
    assert kwargs == {
        "model": "gpt-4o-mini", "training_file": "file-t", "validation_file": "file-v", "suffix": "s", "seed": 0,
        "metadata": {"k": "v"}, "integrations": [wandb],
        "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3, "batch_size": "auto"}}},
    }


def test_an_explicit_method_wins_and_hyperparameters_only_fill_its_gaps() -> None:
    dpo = {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}}
    kwargs = job_create_kwargs(JobSpec(model="m", training_file="f", method=dpo, hyperparameters={"n_epochs": 9}))
    assert kwargs["method"] == dpo
    bare = job_create_kwargs(JobSpec(model="m", training_file="f", method={"type": "dpo"},
                                     hyperparameters={"n_epochs": 2}))
    assert bare["method"] == {"type": "dpo", "dpo": {"hyperparameters": {"n_epochs": 2}}}
    assert "method" not in job_create_kwargs(JobSpec(model="m", training_file="f"))


def test_tag_key_must_be_in_the_metadata() -> None:
    with pytest.raises(ValueError, match="tag_key"):
        JobSpec(model="m", training_file="f", metadata={}, tag_key="finetuner_job_id")
