"""The two crash windows where money is at stake, reproduced as the state a crash leaves behind.

"Uploaded, crashed before commit": the provider has our file (its name carries the sha256), we
have no ``provider_files`` row. "Created at the provider, crashed before commit": the provider has
a job tagged with our id, our row is still ``submitting``. A worker must adopt both, never pay twice.
"""

from __future__ import annotations

import io

from sqlalchemy import select

from core.jobs import transition
from core.models import Dataset, Job, ProviderFile
from core.providers.base import provider_filename
from core.states import JobStatus
from tests.integration.recovery.conftest import Recovery, dataset_bytes


def _canonical(recovery: Recovery, dataset_id: str) -> tuple[str, bytes]:
    with recovery.sessions() as session:
        dataset = session.get(Dataset, dataset_id)
        assert dataset is not None and dataset.canonical_sha256 is not None
        sha = dataset.canonical_sha256
    return sha, recovery.settings.storage_path.joinpath(sha[:2], sha).read_bytes()


def test_a_file_uploaded_before_a_crash_is_adopted_not_uploaded_again(recovery: Recovery) -> None:
    dataset_id = recovery.upload(dataset_bytes(1))
    sha, content = _canonical(recovery, dataset_id)
    orphan = recovery.emulator.client().files.create(
        file=(provider_filename(sha), io.BytesIO(content)), purpose="fine-tune")
    job_id = recovery.submit(dataset_id)
    recovery.start_worker()
    assert recovery.wait_all_terminal([job_id], timeout=60) == {job_id: "succeeded"}
    uploads = [c for c in recovery.emulator.state.calls if c.method == "POST" and c.path == "/files"]
    assert len(uploads) == 1, "only the orphan's own upload: the worker adopted it"
    with recovery.sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.training_file_id == orphan.id
        recorded = session.scalars(select(ProviderFile.provider_file_id).where(ProviderFile.sha256 == sha)).all()
        assert recorded == [orphan.id]


def test_a_provider_job_created_before_a_crash_is_adopted_not_created_again(recovery: Recovery) -> None:
    dataset_id = recovery.upload(dataset_bytes(2))
    sha, content = _canonical(recovery, dataset_id)
    client = recovery.emulator.client()
    uploaded = client.files.create(file=(provider_filename(sha), io.BytesIO(content)), purpose="fine-tune")
    job_id = recovery.submit(dataset_id)
    with recovery.sessions() as session:  # what the crashed worker had committed: files recorded, then submitting
        job = session.get(Job, job_id)
        assert job is not None
        transition(session, job, JobStatus.UPLOADING, reason="uploading the datasets", actor="worker")
        job.training_file_id = uploaded.id
        transition(session, job, JobStatus.SUBMITTING, reason="datasets at the provider", actor="worker")
        session.commit()
    orphan = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=uploaded.id,
                                            metadata={"finetuner_job_id": job_id})
    recovery.emulator.state.reset_calls()

    recovery.start_worker()
    assert recovery.wait_all_terminal([job_id], timeout=60) == {job_id: "succeeded"}
    creates = [c for c in recovery.emulator.state.calls if c.method == "POST" and c.path == "/fine_tuning/jobs"]
    assert creates == [], "the worker must adopt the tagged job, not create a second one"
    tagged = list(client.fine_tuning.jobs.list(metadata={"finetuner_job_id": job_id}))
    assert [j.id for j in tagged] == [orphan.id]
    with recovery.sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.provider_job_id == orphan.id
