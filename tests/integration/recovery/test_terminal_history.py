"""Every terminal job has its whole history: whatever path ended it, our stored events, metric
steps and checkpoints equal the provider's (the emulator's), up to and including its last event.

Kinds: succeeded; failed mid-run; cancelled at a random moment while running; and adopted after a
crash, where the provider job (tagged with our id) finished before any worker looked at it.
``FINETUNER_HISTORY_RUNS`` jobs of each kind (3 in the normal suite; ``make chaos`` runs 20).
"""

from __future__ import annotations

import io
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import select

from core.jobs import transition
from core.models import Checkpoint, Dataset, Job, JobEvent, JobMetric
from core.providers.base import provider_filename
from core.states import JobStatus
from emulator.settings import FaultProfile
from tests.integration.recovery.conftest import Recovery, build_recovery, dataset_bytes

RUNS = int(os.environ.get("FINETUNER_HISTORY_RUNS", "3"))
SEED = int(os.environ.get("FINETUNER_HISTORY_SEED", "20261202"))
KINDS = ("succeeded", "failed", "cancelled", "adopted")
# Runs last ~1 s at the suite's time scale: too short to land a cancel at a random step. Three times slower here.
CANCEL_TIME_SCALE = 0.03


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def stack(tmp_path: Path, kind: str) -> Iterator[Recovery]:
    emulator: dict[str, Any] = {"faults": FaultProfile(job_failure_rate=1.0)} if kind == "failed" else {}
    if kind == "cancelled":
        emulator["time_scale"] = CANCEL_TIME_SCALE
    with build_recovery(tmp_path, emulator_overrides=emulator) as recovery:
        yield recovery


def _provider_history(recovery: Recovery, provider_job_id: str) -> tuple[list[str], list[int], list[str]]:
    client = recovery.emulator.client()
    events = list(client.fine_tuning.jobs.list_events(provider_job_id, limit=100))
    data = [cast(dict[str, Any], e.data) for e in events if e.type == "metrics" and e.data]
    steps = sorted({d["step"] for d in data if "step" in d})
    checkpoints = [c.id for c in client.fine_tuning.jobs.checkpoints.list(provider_job_id, limit=100)]
    return sorted(e.id for e in events), steps, sorted(checkpoints)


def _our_history(recovery: Recovery, job_id: str) -> tuple[list[str], list[int], list[str]]:
    with recovery.sessions() as session:
        events = session.scalars(select(JobEvent.provider_event_id).where(JobEvent.job_id == job_id)).all()
        steps = session.scalars(select(JobMetric.step).where(JobMetric.job_id == job_id)).all()
        checkpoints = session.scalars(select(Checkpoint.provider_checkpoint_id)
                                      .where(Checkpoint.job_id == job_id)).all()
    return sorted(events), sorted(steps), sorted(checkpoints)


def _orphan(recovery: Recovery, index: int) -> tuple[str, str]:
    """What a worker that crashed right after creating the provider job leaves: our row ``submitting``,
    the provider's job tagged with our id. Returns (our job id, provider job id)."""
    dataset_id = recovery.upload(dataset_bytes(100 + index))
    with recovery.sessions() as session:
        dataset = session.get(Dataset, dataset_id)
        assert dataset is not None and dataset.canonical_sha256 is not None
        sha = dataset.canonical_sha256
    content = recovery.settings.storage_path.joinpath(sha[:2], sha).read_bytes()
    client = recovery.emulator.client()
    uploaded = client.files.create(file=(provider_filename(sha), io.BytesIO(content)), purpose="fine-tune")
    job_id = recovery.submit(dataset_id)
    with recovery.sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        transition(session, job, JobStatus.UPLOADING, reason="uploading the datasets", actor="worker")
        job.training_file_id = uploaded.id
        transition(session, job, JobStatus.SUBMITTING, reason="datasets at the provider", actor="worker")
        session.commit()
    remote = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=uploaded.id,
                                            metadata={"finetuner_job_id": job_id})
    return job_id, remote.id


def _cancel_each_at_a_random_moment_of_its_run(recovery: Recovery, job_ids: list[str], rng: random.Random) -> None:
    """Each job's cancel goes out a random 0-1 s after it is first seen running (its run lasts ~3 s)."""
    due: dict[str, float] = {}
    deadline = time.monotonic() + 120
    while len(due) < len(job_ids) or any(at != -1.0 for at in due.values()):
        assert time.monotonic() < deadline, f"cancels not all sent: {recovery.statuses(job_ids)}"
        statuses = recovery.statuses(job_ids)
        now = time.monotonic()
        for job_id in job_ids:
            if job_id not in due and statuses[job_id] in ("running", "succeeded", "failed"):
                due[job_id] = now + rng.uniform(0.0, 1.0)
            elif job_id in due and due[job_id] != -1.0 and now >= due[job_id]:
                recovery.client.post(f"/v1/jobs/{job_id}/cancel")  # 409 if it ended first: counted all the same
                due[job_id] = -1.0
        time.sleep(0.02)


def _settled(recovery: Recovery, job_ids: list[str]) -> bool:
    with recovery.sessions() as session:
        rows = session.execute(select(Job.status, Job.final_sync_owed).where(Job.id.in_(job_ids))).all()
    return all(status in ("succeeded", "failed", "cancelled") and not owed for status, owed in rows)


def test_a_terminal_job_has_every_event_metric_step_and_checkpoint_the_provider_has(
        stack: Recovery, kind: str) -> None:
    rng = random.Random(f"{SEED}-{kind}")
    job_ids: list[str] = []
    if kind == "adopted":
        orphans = [_orphan(stack, i) for i in range(RUNS)]
        job_ids = [job_id for job_id, _ in orphans]
        client = stack.emulator.client()
        stack.wait_for(lambda: all(client.fine_tuning.jobs.retrieve(p).status == "succeeded" for _, p in orphans),
                       timeout=60, what="the orphaned provider jobs to finish before any worker looks")
        stack.start_worker()
    else:
        stack.start_worker()
        if kind == "cancelled":  # in threes: twenty cancels at once would queue behind each other
            for start in range(0, RUNS, 3):
                batch = [stack.submit(stack.upload(dataset_bytes(i))) for i in range(start, min(RUNS, start + 3))]
                _cancel_each_at_a_random_moment_of_its_run(stack, batch, rng)
                job_ids += batch
        else:
            job_ids = [stack.submit(stack.upload(dataset_bytes(i))) for i in range(RUNS)]
    stack.wait_for(lambda: _settled(stack, job_ids), timeout=90,
                   what=f"{kind} jobs to end and settle: {stack.statuses(job_ids)}")
    statuses = stack.statuses(job_ids)
    expected = {"adopted": "succeeded", "cancelled": "cancelled"}.get(kind, kind)
    ended_as = sorted(statuses.values())
    if kind == "cancelled":  # a cancel that came after the end is a 409; that job's history counts all the same
        assert "cancelled" in ended_as, ended_as
    else:
        assert set(ended_as) == {expected}, ended_as

    counts: list[str] = []
    for job_id in job_ids:
        with stack.sessions() as session:
            job = session.get(Job, job_id)
            assert job is not None and job.provider_job_id is not None
            provider_job_id = job.provider_job_id
        theirs, ours = _provider_history(stack, provider_job_id), _our_history(stack, job_id)
        counts.append(f"{statuses[job_id]}: {len(ours[0])}/{len(theirs[0])} events, {len(ours[1])}/{len(theirs[1])} "
                      f"steps, {len(ours[2])}/{len(theirs[2])} checkpoints")
        assert ours[0] == theirs[0], f"{kind} job {job_id}: events differ ({counts[-1]})"
        assert ours[1] == theirs[1], f"{kind} job {job_id}: metric steps differ ({counts[-1]})"
        assert ours[2] == theirs[2], f"{kind} job {job_id}: checkpoints differ ({counts[-1]})"
    print(f"{kind}: {len(job_ids)} jobs, history equal: " + "; ".join(counts))


