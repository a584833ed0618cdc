"""The advance pipeline against the real emulator: once per file, once per job, safe to repeat."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from core.claims import claim_job
from core.jobs import TAG_KEY, request_cancel
from core.models import Job, ProviderFile
from core.pipeline import OutcomeKind, Pipeline
from core.providers.base import JobSpec, Provider, ProviderJob, provider_filename
from core.tasknames import TaskName
from tests.unit.worker.conftest import World
from tests.unit.worker.helpers import status_of, transitions


def _posts(world: World, path: str) -> int:
    return sum(1 for c in world.emulator.state.calls if c.method == "POST" and c.path == path)


def _job(world: World, job_id: str) -> Job:
    with world.sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def test_advance_takes_a_pending_job_to_the_provider_with_our_tag(world: World) -> None:
    job_id = world.job(world.dataset(), suffix="demo", seed=7, metadata={"team": "ml"},
                       wandb={"project": "ft", "tags": ["a"]})
    world.emulator.state.reset_calls()

    outcome = world.pipeline.advance(job_id)

    job = _job(world, job_id)
    assert job.provider_job_id, outcome
    with world.sessions() as session:
        assert transitions(session, job_id) == ["pending", "uploading", "submitting", "validating_files"]
    remote = world.provider.get_job(job.provider_job_id)
    assert remote.metadata == {"team": "ml", TAG_KEY: job_id}
    assert remote.training_file == job.training_file_id
    assert remote.seed == 7
    raw = world.emulator.client().fine_tuning.jobs.retrieve(job.provider_job_id)
    assert [(i.type, i.wandb.project, i.wandb.tags) for i in raw.integrations or []] == [("wandb", "ft", ["a"])]
    assert _posts(world, "/files") == 1
    assert _posts(world, "/fine_tuning/jobs") == 1


def test_advancing_again_calls_the_provider_for_nothing(world: World) -> None:
    job_id = world.job(world.dataset())
    world.pipeline.advance(job_id)
    world.emulator.state.reset_calls()

    outcome = world.pipeline.advance(job_id)

    assert outcome.kind is OutcomeKind.DONE
    assert world.emulator.state.calls == [], "a job the provider holds is the poll's, not the pipeline's"


def test_jobs_sharing_a_dataset_upload_it_once(world: World) -> None:
    dataset_id = world.dataset(tag="shared")
    jobs = [world.job(dataset_id) for _ in range(3)]
    world.emulator.state.reset_calls()

    threads = [threading.Thread(target=world.pipeline.advance, args=(job_id,)) for job_id in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert _posts(world, "/files") == 1
    assert len({_job(world, job_id).training_file_id for job_id in jobs}) == 1
    assert _posts(world, "/fine_tuning/jobs") == 3
    with world.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ProviderFile)) == 1


def test_a_file_uploaded_before_a_crash_is_adopted_not_uploaded_again(world: World) -> None:
    dataset_id = world.dataset(tag="orphan-file")
    job_id = world.job(dataset_id)
    with world.sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        sha = job_sha(session, dataset_id)
    # The upload reached the provider, then the worker died before recording it.
    orphan = world.provider.upload_file(world.store.path_for(sha), provider_filename(sha))
    world.emulator.state.reset_calls()

    world.pipeline.advance(job_id)

    assert _posts(world, "/files") == 0
    assert _job(world, job_id).training_file_id == orphan.id


def test_a_provider_job_created_before_a_crash_is_adopted_not_created_again(world: World) -> None:
    dataset_id = world.dataset(tag="orphan-job")
    job_id = world.job(dataset_id)
    with world.sessions() as session:
        sha = job_sha(session, dataset_id)
    file = world.provider.upload_file(world.store.path_for(sha), provider_filename(sha))
    orphan = world.provider.create_job(JobSpec(model="gpt-4o-mini-2024-07-18", training_file=file.id,
                                               metadata={TAG_KEY: job_id}, tag_key=TAG_KEY))
    world.emulator.state.reset_calls()

    world.pipeline.advance(job_id)

    assert _posts(world, "/fine_tuning/jobs") == 0
    assert _job(world, job_id).provider_job_id == orphan.id


def test_a_final_provider_error_fails_the_job_with_the_providers_message(world: World) -> None:
    job_id = world.job(world.dataset(tag="final"))
    world.emulator.state.inject("/fine_tuning/jobs", 400, count=1, method="POST")

    world.pipeline.advance(job_id)

    job = _job(world, job_id)
    assert job.status == "failed"
    assert job.error is not None and job.error["message"], job.error
    assert job.provider_job_id is None


def test_retryable_errors_are_retried_with_backoff_then_fail_past_the_ceiling(world: World) -> None:
    job_id = world.job(world.dataset(tag="retry"))
    world.emulator.state.inject("/files", 503, count=50, method="POST")

    first = world.pipeline.advance(job_id)
    assert first.kind is OutcomeKind.RETRY and first.retry_in is not None and 0 < first.retry_in <= 5.0, first
    assert _job(world, job_id).status == "uploading"
    assert _job(world, job_id).attempts == 1

    world.pipeline.advance(job_id)
    last = world.pipeline.advance(job_id)  # max_attempts=3 in this world

    job = _job(world, job_id)
    assert last.kind is OutcomeKind.FAILED
    assert job.status == "failed"
    assert job.error is not None and "gave up after 3 attempts" in job.error["message"]
    world.emulator.state.clear_faults()


def test_cancel_before_the_provider_has_the_job_ends_it_here(world: World) -> None:
    job_id = world.job(world.dataset(tag="early-cancel"))
    with world.sessions() as session:
        request_cancel(session, world.tenant_id, job_id)
        session.commit()
    world.emulator.state.reset_calls()

    world.pipeline.advance(job_id)

    with world.sessions() as session:
        assert transitions(session, job_id) == ["pending", "cancelling", "cancelled"]
    assert _posts(world, "/fine_tuning/jobs") == 0


def test_cancel_of_a_job_at_the_provider_cancels_it_there(slow_world: World) -> None:
    world = slow_world
    job_id = world.job(world.dataset(tag="cancel"))
    world.pipeline.advance(job_id)
    with world.sessions() as session:
        request_cancel(session, world.tenant_id, job_id)
        session.commit()
    assert (TaskName.ADVANCE_JOB, {"job_id": job_id}) in world.sent

    world.pipeline.advance(job_id)

    job = _job(world, job_id)
    assert job.status == "cancelled"
    assert world.provider.get_job(job.provider_job_id or "").status == "cancelled"


class _CancelDuringCreate:
    """A provider whose create lands while the API cancels the job (the race a real cancel can hit)."""

    def __init__(self, inner: Provider, world: World, job_id: str) -> None:
        self._inner, self._world, self._job_id = inner, world, job_id
        self.name = inner.name

    def create_job(self, spec: JobSpec) -> ProviderJob:
        created = self._inner.create_job(spec)
        with self._world.sessions() as session:
            request_cancel(session, self._world.tenant_id, self._job_id)
            session.commit()
        return created

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


def test_a_cancel_landing_during_create_cancels_the_new_provider_job(slow_world: World) -> None:
    world = slow_world
    job_id = world.job(world.dataset(tag="race"))
    racing = _CancelDuringCreate(world.provider, world, job_id)
    pipeline = Pipeline(world.sessions, provider_for=lambda _n: racing, store=world.store,  # type: ignore[arg-type,return-value]
                        lock_dir=world.pipeline.lock_dir, max_attempts=3, max_retry_delay=5.0)

    pipeline.advance(job_id)

    job = _job(world, job_id)
    assert job.status == "cancelled", transitions_of(world, job_id)
    assert job.provider_job_id is not None
    assert world.provider.get_job(job.provider_job_id).status == "cancelled"
    assert "validating_files" not in transitions_of(world, job_id)


def test_a_job_another_worker_holds_is_skipped(world: World) -> None:
    job_id = world.job(world.dataset(tag="busy"))
    with world.sessions() as session, claim_job(session, job_id, lock_dir=world.pipeline.lock_dir) as held:
        assert held is not None
        outcome = world.pipeline.advance(job_id)
    assert outcome.kind is OutcomeKind.BUSY
    with world.sessions() as session:
        assert status_of(session, job_id) == "pending"


def transitions_of(world: World, job_id: str) -> list[str]:
    with world.sessions() as session:
        return transitions(session, job_id)


def job_sha(session: object, dataset_id: str) -> str:
    from core.models import Dataset

    dataset = session.get(Dataset, dataset_id)  # type: ignore[attr-defined]
    assert dataset is not None and dataset.canonical_sha256
    return str(dataset.canonical_sha256)
