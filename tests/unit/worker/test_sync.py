"""Following jobs at the provider: the poll stores every event once, every loss point, the end."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update

from core.models import Checkpoint, Job, JobEvent, JobMetric
from core.pipeline import reconcile
from core.tasknames import TaskName
from emulator import FaultProfile
from tests.unit.worker.conftest import World
from tests.unit.worker.helpers import transitions, wait_for

PROVIDER_ORDER = ["validating_files", "queued", "running", "succeeded"]


def _poll_until_finished(world: World, job_id: str, timeout: float = 30.0) -> Job:
    def finished() -> Job | None:
        world.syncer.poll()
        with world.sessions() as session:
            job = session.get(Job, job_id)
            return job if job is not None and job.status in ("succeeded", "failed", "cancelled") else None

    result: Job = wait_for(finished, timeout=timeout, interval=0.1, what=f"job {job_id} to finish")
    return result


def _count(world: World, model: type[JobEvent] | type[JobMetric] | type[Checkpoint], job_id: str) -> int:
    with world.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(model.job_id == job_id)) or 0)


def test_a_job_followed_to_success_keeps_every_event_loss_point_and_checkpoint(world: World) -> None:
    job_id = world.job(world.dataset(n=30, tag="full"), suffix="full", validation_dataset_id=None)
    world.pipeline.advance(job_id)

    job = _poll_until_finished(world, job_id)

    assert job.status == "succeeded", job.error
    with world.sessions() as session:
        seen = transitions(session, job_id)
    assert seen[:3] == ["pending", "uploading", "submitting"]
    provider_part = seen[3:]
    assert provider_part == [s for s in PROVIDER_ORDER if s in provider_part], seen
    assert provider_part[-1] == "succeeded"
    assert job.provider_job_id is not None
    remote_events = list(world.provider.iter_events_newest_first(job.provider_job_id))
    assert _count(world, JobEvent, job_id) == len(remote_events)
    metric_steps = {e.data["step"] for e in remote_events if e.type == "metrics" and e.data}
    assert metric_steps, "the emulator emits metrics events for a running job"
    assert _count(world, JobMetric, job_id) == len(metric_steps)
    assert _count(world, Checkpoint, job_id) == len(world.provider.list_checkpoints(job.provider_job_id))
    assert _count(world, Checkpoint, job_id) > 0
    assert job.fine_tuned_model and job.fine_tuned_model.startswith("ft:") and ":full:" in job.fine_tuned_model
    assert job.trained_tokens and job.trained_tokens > 0
    assert job.resolved_hyperparameters and all(v != "auto" for v in job.resolved_hyperparameters.values())
    with world.sessions() as session:
        losses = session.scalars(select(JobMetric.train_loss).where(JobMetric.job_id == job_id)
                                 .order_by(JobMetric.step)).all()
    assert all(loss is not None for loss in losses)


def test_polling_again_stores_nothing_twice(world: World) -> None:
    job_id = world.job(world.dataset(tag="twice"))
    world.pipeline.advance(job_id)
    _poll_until_finished(world, job_id)
    before = (_count(world, JobEvent, job_id), _count(world, JobMetric, job_id), _count(world, Checkpoint, job_id))
    world.emulator.state.reset_calls()

    reports = world.syncer.poll()

    assert reports == [], "a finished job is no longer swept"
    assert world.emulator.state.calls == []
    assert (_count(world, JobEvent, job_id), _count(world, JobMetric, job_id), _count(world, Checkpoint, job_id)) \
        == before


def test_a_file_the_provider_rejects_fails_the_job_with_its_code_and_message(world: World) -> None:
    job_id = world.job(world.dataset(n=3, tag="too-few"))  # the emulator, like OpenAI, wants >= 10 examples
    world.pipeline.advance(job_id)

    job = _poll_until_finished(world, job_id)

    assert job.status == "failed"
    assert job.error is not None
    assert job.error["code"] and job.error["message"], job.error
    remote = world.provider.get_job(job.provider_job_id or "")
    assert remote.error is not None
    assert (job.error["code"], job.error["message"]) == (remote.error.code, remote.error.message)


def test_a_job_the_provider_fails_mid_run_ends_failed_with_the_providers_error(world: World) -> None:
    world.emulator.state.set_fault_profile(FaultProfile(job_failure_rate=1.0, job_failure_code="server_error",
                                                        job_failure_message="The job failed (injected)."))
    try:
        job_id = world.job(world.dataset(tag="fails"))
        world.pipeline.advance(job_id)
        job = _poll_until_finished(world, job_id)
    finally:
        world.emulator.state.clear_faults()

    assert job.status == "failed"
    assert job.error == {"code": "server_error", "message": "The job failed (injected).", "param": None}


def test_cancelling_a_running_job_ends_cancelled(slow_world: World) -> None:
    from core.jobs import request_cancel

    world = slow_world
    job_id = world.job(world.dataset(n=30, tag="cancel-run"))
    world.pipeline.advance(job_id)

    def running() -> bool:
        world.syncer.poll()
        with world.sessions() as session:
            job = session.get(Job, job_id)
            return job is not None and job.status == "running"

    wait_for(running, timeout=20, what="the job to run")
    with world.sessions() as session:
        request_cancel(session, world.tenant_id, job_id)
        session.commit()
    world.pipeline.advance(job_id)
    job = _poll_until_finished(world, job_id)

    assert job.status == "cancelled"
    with world.sessions() as session:
        assert transitions(session, job_id)[-2:] == ["cancelling", "cancelled"]


def test_sync_of_a_job_not_at_the_provider_yet_nudges_the_pipeline(world: World) -> None:
    job_id = world.job(world.dataset(tag="nudge"))
    world.sent.clear()

    assert world.syncer.sync_job(job_id) is False

    assert world.sent == [(TaskName.ADVANCE_JOB, {"job_id": job_id})]


def test_reconciler_re_enqueues_stuck_and_unsynced_jobs_only(world: World) -> None:
    stuck = world.job(world.dataset(tag="stuck"))
    fresh = world.job(world.dataset(tag="fresh"))
    cancelling = world.job(world.dataset(tag="cancelling"))
    at_provider = world.job(world.dataset(tag="at-provider"))
    world.pipeline.advance(at_provider)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with world.sessions() as session:
        session.execute(update(Job).where(Job.id == stuck).values(updated_at=old))
        # A poll touches a cancelling job every time; how long it has been cancelling is what counts.
        session.execute(update(Job).where(Job.id == cancelling)
                        .values(status="cancelling", status_changed_at=old))
        session.execute(update(Job).where(Job.id == at_provider)
                        .values(status_changed_at=old, last_synced_at=None))
        session.commit()
    world.sent.clear()
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)

    with world.sessions() as session:
        advanced, synced = reconcile(session, stuck_before=cutoff, unsynced_before=cutoff)
        session.commit()

    assert sorted(advanced) == sorted([stuck, cancelling]) and fresh not in advanced
    assert synced == [at_provider]
    assert sorted((name, kwargs["job_id"]) for name, kwargs in world.sent) == sorted(
        [(TaskName.ADVANCE_JOB, stuck), (TaskName.ADVANCE_JOB, cancelling), (TaskName.SYNC_JOB, at_provider)])
