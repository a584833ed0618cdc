"""The Together provider (official ``together`` SDK) against the emulator's Together dialect.

What the pipeline and the sync rely on: upload once and find it again by name, create with our
tag in the suffix and adopt only an exact tag match (also after a lost answer), statuses mapped
onto ours, events + the loss curve as metrics events, checkpoints, cancel, and the error classes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.config import Settings
from core.providers import build_provider, provider_filename
from core.providers.base import JobSpec
from core.providers.errors import ProviderConflictError, ProviderFinalError, ProviderNotFoundError
from core.providers.together import TogetherProvider
from core.providers.together_convert import job_tag, tag_of
from emulator import EmulatorSettings, create_together_app
from tests.emulator.data import chat_file
from tests.emulator.server import RunningEmulator, serve_emulator
from tests.integration.providers.conftest import EMULATOR_KEY, RETRIES

LLAMA = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
TERMINAL = ("succeeded", "failed", "cancelled")


@pytest.fixture
def tg() -> Iterator[RunningEmulator]:
    with serve_emulator(EmulatorSettings(api_key=EMULATOR_KEY), prefix="/together",
                        factory=create_together_app) as running:
        yield running


@pytest.fixture
def provider(tg: RunningEmulator) -> Iterator[TogetherProvider]:
    options: dict[str, Any] = {"together_api_key": EMULATOR_KEY, "together_base_url": tg.base_url, **RETRIES}
    settings = Settings(**options)
    built = build_provider(settings, "together")
    assert isinstance(built, TogetherProvider)
    yield built
    built.close()


def _uploaded(provider: TogetherProvider, tmp_path: Path, n: int = 20) -> str:
    path = tmp_path / "blob"
    path.write_bytes(chat_file(n))
    return provider.upload_file(path, provider_filename("ab" * 32)).id


def _spec(training_file: str, job_id: str, **fields: object) -> JobSpec:
    return JobSpec(model=LLAMA, training_file=training_file, metadata={"finetuner_job_id": job_id},
                   tag_key="finetuner_job_id", **fields)  # type: ignore[arg-type]


def _wait(provider: TogetherProvider, job_id: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while (status := provider.get_job(job_id).status) not in TERMINAL:
        assert time.monotonic() < deadline, f"job {job_id} still {status}"
        time.sleep(0.05)
    return status


def test_an_upload_is_found_again_by_its_sha256_name_and_not_repeated(provider: TogetherProvider,
                                                                      tmp_path: Path, tg: RunningEmulator) -> None:
    file_id = _uploaded(provider, tmp_path)

    found = provider.find_file(provider_filename("ab" * 32))

    assert found is not None and found.id == file_id
    assert provider.find_file(provider_filename("cd" * 32)) is None
    assert sum(c.path.endswith("/preprocess") for c in tg.state.calls) == 1


def test_a_job_carries_our_tag_in_its_suffix_beside_the_users_and_is_adopted_by_exact_tag_only(
        provider: TogetherProvider, tmp_path: Path) -> None:
    training = _uploaded(provider, tmp_path)
    created = provider.create_job(_spec(training, "job_one", suffix="pricer"))

    assert created.status == "validating_files"
    assert created.suffix is not None and created.suffix.startswith("pricer-")
    assert tag_of(created.suffix) == job_tag("job_one") and len(created.suffix) <= 40
    found = provider.find_job_by_tag("finetuner_job_id", "job_one")
    assert found is not None and found.id == created.id
    assert provider.find_job_by_tag("finetuner_job_id", "job_on") is None, "a prefix of our id is not a match"
    assert provider.find_job_by_tag("finetuner_job_id", "job_two") is None


def test_a_create_retried_after_an_ambiguous_failure_adopts_the_tagged_job_instead_of_paying_twice(
        provider: TogetherProvider, tmp_path: Path, tg: RunningEmulator) -> None:
    training = _uploaded(provider, tmp_path)
    # An earlier attempt created the job at Together but its answer never arrived (the job exists,
    # tagged); this attempt's create then fails with a 5xx, which may or may not have taken effect.
    earlier = tg.together_client().fine_tuning.create(training_file=training, model=LLAMA,
                                                      suffix=f"x-{job_tag('job_lost')}")
    tg.state.inject("/v1/fine-tunes", 500, count=1, method="POST")
    tg.state.reset_calls()

    adopted = provider.create_job(_spec(training, "job_lost"))

    assert adopted.id == earlier.id
    jobs = [j for j in provider.list_jobs_page(None)[0] if tag_of(j.suffix) == job_tag("job_lost")]
    assert len(jobs) == 1, "no second paid job"
    assert sum(c.method == "POST" and c.path == "/v1/fine-tunes" for c in tg.state.calls) == 1


def test_a_job_runs_to_succeeded_with_events_metrics_checkpoints_and_output_model(provider: TogetherProvider,
                                                                                  tmp_path: Path) -> None:
    training = _uploaded(provider, tmp_path)
    created = provider.create_job(_spec(training, "job_run", suffix="run",
                                        hyperparameters={"n_epochs": 2, "learning_rate": 3e-5}))

    assert _wait(provider, created.id) == "succeeded"

    job = provider.get_job(created.id)
    assert job.fine_tuned_model is not None and job.fine_tuned_model.startswith("emulator/")
    assert job.hyperparameters["n_epochs"] == 2 and job.hyperparameters["learning_rate"] == 3e-5
    assert job.trained_tokens and job.trained_tokens > 0
    events = provider.list_events_since(created.id, None)
    metrics = [e for e in events if e.type == "metrics"]
    assert metrics and all(isinstance(e.data and e.data.get("train_loss"), float) for e in metrics)
    assert [e.data["step"] for e in metrics if e.data] == sorted({e.data["step"] for e in metrics if e.data})
    assert len({e.id for e in events}) == len(events), "derived event ids are unique"
    assert [e.id for e in provider.list_events_since(created.id, None)] == [e.id for e in events], "and stable"
    checkpoints = provider.list_checkpoints(created.id)
    assert any(c.fine_tuned_model_checkpoint == job.fine_tuned_model for c in checkpoints)
    answer = provider.chat_completion(job.fine_tuned_model, [{"role": "user",
                                                              "content": "How much does one apple cost in aisle 0?"}])
    assert answer.content == "One apple in aisle 0 costs 1 coins."


def test_cancel_maps_to_cancelled_and_a_second_cancel_is_a_conflict(provider: TogetherProvider,
                                                                    tmp_path: Path) -> None:
    training = _uploaded(provider, tmp_path, n=200)
    created = provider.create_job(_spec(training, "job_cancel"))

    assert provider.cancel_job(created.id).status == "cancelled"
    with pytest.raises(ProviderConflictError):
        provider.cancel_job(created.id)
    with pytest.raises(ProviderConflictError):
        provider.pause_job(created.id)


def test_errors_map_onto_our_classes(provider: TogetherProvider, tmp_path: Path) -> None:
    with pytest.raises(ProviderNotFoundError):
        provider.get_job("ft-00000000-0000-0000-0000-000000000000")
    training = _uploaded(provider, tmp_path)
    with pytest.raises(ProviderFinalError, match="not available for fine-tuning"):
        provider.create_job(JobSpec(model="gpt-4o-mini-2024-07-18", training_file=training,
                                    metadata={"finetuner_job_id": "job_x"}, tag_key="finetuner_job_id"))
