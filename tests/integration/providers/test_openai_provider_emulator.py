"""``OpenAIProvider`` against the real emulator over HTTP: the calls the worker makes, and the faults
it must survive (429 with Retry-After, 5xx, slow answers, a bad key, unknown ids)."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from core.providers import (
    JobSpec,
    ProviderConflictError,
    ProviderFinalError,
    ProviderNotFoundError,
    ProviderRetryableError,
    provider_filename,
)
from core.providers.openai import OpenAIProvider
from tests.emulator.data import chat_file
from tests.emulator.server import RunningEmulator
from tests.integration.providers.conftest import wait_until_terminal

MakeProvider = Callable[..., OpenAIProvider]
TAG = "finetuner_job_id"


def dataset(tmp_path: Path, n: int = 20, start: int = 0) -> tuple[Path, str]:
    content = chat_file(n, start)
    path = tmp_path / f"train-{start}.jsonl"
    path.write_bytes(content)
    return path, provider_filename(hashlib.sha256(content).hexdigest())


def calls(emu: RunningEmulator, method: str, path: str) -> int:
    return sum(1 for c in emu.state.calls if c.method == method and c.path == path)


def test_uploaded_file_is_found_by_its_name_and_reused(
    emu: RunningEmulator, provider: OpenAIProvider, tmp_path: Path
) -> None:
    path, name = dataset(tmp_path)
    assert provider.find_file(name) is None
    uploaded = provider.upload_file(path, name)
    assert (uploaded.filename, uploaded.bytes, uploaded.purpose) == (name, path.stat().st_size, "fine-tune")
    other_path, other_name = dataset(tmp_path, start=100)
    provider.upload_file(other_path, other_name)

    found = provider.find_file(name)
    assert found is not None and found.id == uploaded.id
    assert calls(emu, "POST", "/files") == 2, "one upload per distinct content"


def test_created_job_is_found_again_by_its_tag(
    emu: RunningEmulator, provider: OpenAIProvider, tmp_path: Path
) -> None:
    path, name = dataset(tmp_path)
    training = provider.upload_file(path, name)
    spec = JobSpec(model="gpt-4o-mini", training_file=training.id, hyperparameters={"n_epochs": 2},
                   suffix="tagged", seed=11, metadata={TAG: "job_abc"}, tag_key=TAG)
    created = provider.create_job(spec)
    assert created.metadata == {TAG: "job_abc"} and created.seed == 11

    found = provider.find_job_by_tag(TAG, "job_abc")
    assert found is not None and found.id == created.id
    assert provider.find_job_by_tag(TAG, "job_other") is None
    lookups = [c for c in emu.state.calls if c.method == "GET" and c.path == "/fine_tuning/jobs"]
    assert lookups[0].query.get(f"metadata[{TAG}]") == "job_abc", "the filter is applied by the provider"


def test_create_failing_with_500_before_the_provider_acted_is_retried_into_exactly_one_job(
    emu: RunningEmulator, provider: OpenAIProvider, tmp_path: Path
) -> None:
    path, name = dataset(tmp_path)
    training = provider.upload_file(path, name)
    emu.state.inject("/fine_tuning/jobs", 500, count=1, method="POST")
    created = provider.create_job(JobSpec(model="gpt-4o-mini", training_file=training.id,
                                          metadata={TAG: "job_once"}, tag_key=TAG))
    assert calls(emu, "POST", "/fine_tuning/jobs") == 2
    jobs, _ = provider.list_jobs_page(None)
    assert [j.id for j in jobs if j.metadata.get(TAG) == "job_once"] == [created.id]


def test_list_jobs_page_walks_every_job_newest_first(emu: RunningEmulator, provider: OpenAIProvider) -> None:
    now = emu.state.clock.now()
    seeded = [emu.state.seed_job(created_at=now - 100 + i) for i in range(7)]
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        jobs, has_more = provider.list_jobs_page(after, limit=3)
        pages += 1
        seen.extend(j.id for j in jobs)
        if not has_more:
            break
        after = jobs[-1].id
    assert seen == list(reversed(seeded)), "newest first, no job twice, none missing"
    assert pages == 3 and calls(emu, "GET", "/fine_tuning/jobs") == 3


def test_events_come_newest_first_and_a_sync_stops_at_the_known_event(
    emu: RunningEmulator, provider: OpenAIProvider, tmp_path: Path
) -> None:
    path, name = dataset(tmp_path)
    training = provider.upload_file(path, name)
    job = provider.create_job(JobSpec(model="gpt-4o-mini", training_file=training.id))
    finished = wait_until_terminal(provider, job.id)
    assert finished.status == "succeeded"

    newest_first = list(provider.iter_events_newest_first(job.id, page_size=4))
    assert len(newest_first) > 8, "a run produces status and metrics events"
    assert [e.created_at for e in newest_first] == sorted((e.created_at for e in newest_first), reverse=True)
    assert any(e.type == "metrics" and e.data and "train_loss" in e.data for e in newest_first)

    everything = provider.list_events_since(job.id, None)
    assert [e.id for e in everything] == [e.id for e in reversed(newest_first)]

    known = newest_first[5]
    path_events = f"/fine_tuning/jobs/{job.id}/events"
    before = calls(emu, "GET", path_events)
    newer = provider.list_events_since(job.id, known.id, page_size=4)
    assert [e.id for e in newer] == [e.id for e in reversed(newest_first[:5])]
    assert calls(emu, "GET", path_events) - before == 2, "pages stop at the page holding the known event"


def test_a_run_ends_with_model_checkpoints_resolved_hyperparameters_and_a_chat(
    provider: OpenAIProvider, tmp_path: Path
) -> None:
    path, name = dataset(tmp_path, n=30)
    training = provider.upload_file(path, name)
    job = provider.create_job(JobSpec(model="gpt-4o-mini", training_file=training.id, suffix="fruit",
                                      hyperparameters={"n_epochs": 3, "batch_size": "auto"}))
    done = wait_until_terminal(provider, job.id)
    assert done.status == "succeeded" and done.fine_tuned_model and ":fruit:" in done.fine_tuned_model
    assert done.hyperparameters["n_epochs"] == 3 and isinstance(done.hyperparameters["batch_size"], int)
    assert done.trained_tokens and done.finished_at and done.finished_at >= done.created_at
    checkpoints = provider.list_checkpoints(job.id)
    assert checkpoints and all(c.fine_tuned_model_checkpoint.startswith("ft:") for c in checkpoints)
    answer = provider.chat_completion(done.fine_tuned_model,
                                      [{"role": "user", "content": "How much does one apple cost in aisle 0?"}])
    assert answer.content and answer.usage and answer.usage["total_tokens"] > 0


def test_429_is_retried_after_the_wait_retry_after_asks_for(
    emu: RunningEmulator, provider: OpenAIProvider
) -> None:
    job_id = emu.state.seed_job()
    emu.state.inject(f"/fine_tuning/jobs/{job_id}", 429, count=1, retry_after=0.7)
    started = time.monotonic()
    assert provider.get_job(job_id).id == job_id
    waited = time.monotonic() - started
    assert calls(emu, "GET", f"/fine_tuning/jobs/{job_id}") == 2
    # retry-after-ms (700) is honoured, not the rounded-up retry-after (1 s), and not our 20 ms backoff.
    assert 0.7 <= waited < 1.0, f"waited {waited:.3f}s"


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried(emu: RunningEmulator, provider: OpenAIProvider, status: int) -> None:
    job_id = emu.state.seed_job()
    emu.state.inject(f"/fine_tuning/jobs/{job_id}", status, count=2)
    assert provider.get_job(job_id).status == "succeeded"
    assert calls(emu, "GET", f"/fine_tuning/jobs/{job_id}") == 3


def test_a_slow_answer_is_abandoned_at_the_timeout_and_retried(
    emu: RunningEmulator, make_provider: MakeProvider
) -> None:
    job_id = emu.state.seed_job()
    emu.state.inject(f"/fine_tuning/jobs/{job_id}", 200, count=1, delay=1.5)
    started = time.monotonic()
    assert make_provider(provider_timeout_seconds=0.3).get_job(job_id).id == job_id
    assert time.monotonic() - started < 1.2, "the first attempt must be abandoned at 0.3 s, not answered at 1.5 s"
    assert calls(emu, "GET", f"/fine_tuning/jobs/{job_id}") == 2


def test_wrong_key_is_final_with_the_echoed_key_redacted(
    emu: RunningEmulator, make_provider: MakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "sk-proj-WRONGkey0123456789abcdWXYZ"
    caplog.set_level(logging.DEBUG)  # the SDK's and the HTTP stack's loggers included
    with pytest.raises(ProviderFinalError) as caught:
        make_provider(api_key=wrong).get_job("ftjob-anything")
    error = caught.value
    logging.getLogger("worker").error("job failed: %s (%r)", error, error)
    assert "Incorrect API key provided" in caplog.text
    assert "WRONGkey" not in caplog.text and "WXYZ" not in caplog.text
    assert error.status_code == 401 and error.code == "invalid_api_key" and not error.retryable
    assert error.message.startswith("Incorrect API key provided")
    for fragment in (wrong, "WXYZ", "sk-pr"):
        assert fragment not in error.message
    assert calls(emu, "GET", "/fine_tuning/jobs/ftjob-anything") == 1, "auth failures are not retried"


def test_unknown_ids_are_not_found(provider: OpenAIProvider) -> None:
    with pytest.raises(ProviderNotFoundError) as caught:
        provider.get_job("ftjob-doesnotexist")
    assert caught.value.status_code == 404
    with pytest.raises(ProviderNotFoundError):
        provider.list_checkpoints("ftjob-doesnotexist")


def test_cancel_pause_resume_in_the_wrong_state_are_conflicts(
    emu: RunningEmulator, provider: OpenAIProvider
) -> None:
    finished = emu.state.seed_job(status="succeeded")
    with pytest.raises(ProviderConflictError):
        provider.cancel_job(finished)
    with pytest.raises(ProviderConflictError):
        provider.pause_job(finished)
    with pytest.raises(ProviderConflictError):
        provider.resume_job(finished)


def test_pause_resume_and_cancel_move_a_running_job(emu: RunningEmulator, provider: OpenAIProvider) -> None:
    job_id = emu.state.seed_job(status="running", hold=True)
    assert provider.pause_job(job_id).status == "paused"
    assert provider.resume_job(job_id).status == "queued"
    assert provider.cancel_job(job_id).status == "cancelled"


@pytest.mark.parametrize("action", ["pause", "resume"])
def test_pause_and_resume_make_one_attempt_so_the_waiting_request_gets_its_answer(
    emu: RunningEmulator, provider: OpenAIProvider, action: str
) -> None:
    """Made while an API request waits: a failing provider is reported (503), never retried for minutes."""
    job_id = emu.state.seed_job(status="running" if action == "pause" else "paused", hold=True)
    path = f"/fine_tuning/jobs/{job_id}/{action}"
    emu.state.inject(path, 503, count=1)
    with pytest.raises(ProviderRetryableError):
        provider.pause_job(job_id) if action == "pause" else provider.resume_job(job_id)
    assert calls(emu, "POST", path) == 1, f"{action} is one attempt"
