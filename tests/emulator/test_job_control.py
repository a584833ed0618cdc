"""Cancel, pause, resume, and listing jobs (newest first, ``after``, ``limit``, ``metadata[k]=v``)."""

from __future__ import annotations

import uuid

import openai
import pytest

from emulator import EmulatorSettings
from tests.emulator.helpers import all_events, metrics_data, start_job, wait_for_status
from tests.emulator.server import EmulatorFactory, RunningEmulator


def test_cancel_stops_a_running_job(slow_emu: RunningEmulator) -> None:
    client = slow_emu.client()
    job = start_job(client, n_examples=60)
    slow_emu.state.advance_clock(31)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "running"
    cancelled = client.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled"
    assert cancelled.finished_at is not None and cancelled.fine_tuned_model is None
    assert client.fine_tuning.jobs.retrieve(job.id).status == "cancelled"


def test_cancelling_a_finished_job_is_a_400(client: openai.OpenAI) -> None:
    job = wait_for_status(client, start_job(client).id)
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.cancel(job.id)
    assert caught.value.status_code == 400
    assert caught.value.type == "invalid_request_error"
    assert "already completed" in caught.value.message


@pytest.fixture(scope="module")
def slow_emu(tracked_server: EmulatorFactory) -> RunningEmulator:
    """Unscaled time: jobs only move when the test pushes the emulator's clock, so nothing races."""
    return tracked_server(EmulatorSettings(api_key="sk-slow", time_scale=1.0))


def test_pause_holds_progress_and_resume_requeues_then_finishes(slow_emu: RunningEmulator) -> None:
    client = slow_emu.client()
    job = start_job(client, n_examples=30)  # 3 epochs of 30 steps, ~0.5 simulated s each
    slow_emu.state.advance_clock(10.1 + 20 + 10 * 0.5)  # validation, queue, then about ten steps
    step_at_pause = max(d["step"] for d in metrics_data(all_events(client, job.id)))
    assert 5 <= step_at_pause <= 15
    paused = client.fine_tuning.jobs.pause(job.id)
    assert str(paused.status) == "paused"  # not in the SDK's Literal: a documented deviation
    assert paused.estimated_finish is None
    slow_emu.state.advance_clock(3600)  # a long pause: nothing may happen meanwhile
    assert str(client.fine_tuning.jobs.retrieve(job.id).status) == "paused"
    assert max(d["step"] for d in metrics_data(all_events(client, job.id))) == step_at_pause
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.pause(job.id)
    resumed = client.fine_tuning.jobs.resume(job.id)
    assert resumed.status == "queued"
    slow_emu.state.advance_clock(19)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "queued", "a resumed job queues again"
    slow_emu.state.advance_clock(1 + 90 * 0.5 + 15 + 1)
    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded"
    steps = [d["step"] for d in metrics_data(reversed(all_events(client, job.id)))]
    assert steps == list(range(1, 91)), "every step exactly once, across the pause"
    messages = [e.message for e in all_events(client, job.id)]
    assert "Fine-tuning job paused" in messages and "Fine-tuning job resumed" in messages


def test_resume_of_a_job_that_is_not_paused_is_a_400(client: openai.OpenAI) -> None:
    job = start_job(client)
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.resume(job.id)
    client.fine_tuning.jobs.cancel(job.id)


def test_estimated_finish_is_set_while_training(slow_emu: RunningEmulator) -> None:
    client = slow_emu.client()
    job = start_job(client, n_examples=30)
    assert job.estimated_finish is None
    now = slow_emu.state.advance_clock(31)
    running = client.fine_tuning.jobs.retrieve(job.id)
    assert running.status == "running"
    assert running.estimated_finish is not None and running.estimated_finish > now + 40
    assert running.trained_tokens is None and running.fine_tuned_model is None
    client.fine_tuning.jobs.cancel(job.id)


def test_list_filters_by_metadata_and_pages_newest_first(client: openai.OpenAI) -> None:
    tag = uuid.uuid4().hex
    mine = [start_job(client, metadata={"finetuner_job_id": f"job_{tag}_{i}", "batch": tag}).id for i in range(5)]
    start_job(client, metadata={"finetuner_job_id": "someone_else"})
    found = list(client.fine_tuning.jobs.list(metadata={"finetuner_job_id": f"job_{tag}_3"}))
    assert [j.id for j in found] == [mine[3]]
    batch = list(client.fine_tuning.jobs.list(metadata={"batch": tag}, limit=2))  # auto-paging, 2 at a time
    assert [j.id for j in batch] == list(reversed(mine))
    first = client.fine_tuning.jobs.list(metadata={"batch": tag}, limit=3)
    assert first.has_more and [j.id for j in first.data] == list(reversed(mine))[:3]
    rest = client.fine_tuning.jobs.list(metadata={"batch": tag}, limit=3, after=first.data[-1].id)
    assert not rest.has_more and [j.id for j in rest.data] == list(reversed(mine))[3:]
    assert list(client.fine_tuning.jobs.list(metadata={"batch": "nobody"})) == []


def test_metadata_null_selects_jobs_without_metadata(emu: RunningEmulator, client: openai.OpenAI) -> None:
    bare = emu.state.seed_job(status="succeeded")
    tagged = emu.state.seed_job(status="succeeded", metadata={"k": "v"})
    listed = {j.id for j in client.fine_tuning.jobs.list(limit=10_000, extra_query={"metadata": "null"})}
    assert bare in listed and tagged not in listed


def test_default_page_size_is_20(emu: RunningEmulator, client: openai.OpenAI) -> None:
    tag = uuid.uuid4().hex
    for _ in range(25):
        emu.state.seed_job(status="succeeded", metadata={"page": tag})
    page = client.fine_tuning.jobs.list(metadata={"page": tag})
    assert len(page.data) == 20 and page.has_more


def test_seeded_jobs_appear_in_listings_by_creation_time(emu: RunningEmulator, client: openai.OpenAI) -> None:
    tag = uuid.uuid4().hex
    old = emu.state.seed_job(status="succeeded", created_at=1_700_000_000, metadata={"seeded": tag})
    held = emu.state.seed_job(status="running", metadata={"seeded": tag}, hold=True)
    queued = emu.state.seed_job(status="queued", metadata={"seeded": tag})
    listed = [j.id for j in client.fine_tuning.jobs.list(metadata={"seeded": tag})]
    assert listed[-1] == old and set(listed) == {old, held, queued}
    assert client.fine_tuning.jobs.retrieve(old).created_at == 1_700_000_000
    assert wait_for_status(client, queued).status == "succeeded"
    assert client.fine_tuning.jobs.retrieve(held).status == "running"
    emu.state.release_job(held)
    assert wait_for_status(client, held).status == "succeeded"


def test_seeding_through_the_control_route(emu: RunningEmulator, client: openai.OpenAI) -> None:
    response = emu.control("POST", "/_emulator/jobs", json={"status": "failed", "metadata": {"via": "http"}})
    assert response.status_code == 200
    job = client.fine_tuning.jobs.retrieve(response.json()["id"])
    assert job.status == "failed" and job.error is not None


def test_unknown_job_is_a_404_with_openais_body(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.fine_tuning.jobs.retrieve("ftjob-doesnotexist")
    assert caught.value.body["code"] == "fine_tune_not_found"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        list(client.fine_tuning.jobs.list_events("ftjob-doesnotexist"))


def test_a_job_cancelled_while_validating_keeps_its_requested_hyperparameters(client: openai.OpenAI) -> None:
    job = client.fine_tuning.jobs.cancel(start_job(client).id)
    assert job.status == "cancelled"
    assert job.hyperparameters.n_epochs == "auto" and job.hyperparameters.batch_size == "auto"
