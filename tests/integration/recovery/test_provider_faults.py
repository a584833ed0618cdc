"""A flaky provider (about 20 % 429 / 5xx / answers slower than our timeout) costs time, not jobs;
a final error fails its job with the provider's own message."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from core.models import Job
from emulator import FaultProfile
from tests.integration.recovery.conftest import Recovery, dataset_bytes

N_JOBS = 30


def test_thirty_jobs_succeed_through_a_flaky_provider_without_duplicates(recovery: Recovery) -> None:
    datasets = [recovery.upload(dataset_bytes(i), f"flaky-{i}.jsonl") for i in range(6)]
    job_ids = [recovery.submit(datasets[i % len(datasets)]) for i in range(N_JOBS)]
    state = recovery.emulator.state
    state.set_fault_profile(FaultProfile(rate_429=0.08, rate_500=0.06, rate_503=0.03, rate_slow=0.03,
                                         slow_seconds=3.0, retry_after=0.2))
    recovery.start_worker()
    final = recovery.wait_all_terminal(job_ids, timeout=150)
    faulted = dict(state.faults.served)
    state.clear_faults()
    print(f"faults served: {faulted} over {len(state.calls)} calls")
    assert sum(faulted.values()) >= 10 and {"429", "500", "slow"} <= set(faulted), faulted
    assert Counter(final.values()) == {"succeeded": N_JOBS}, final
    provider_jobs = recovery.provider_jobs()
    assert len(provider_jobs) == N_JOBS, f"{len(provider_jobs)} provider jobs for {N_JOBS} (calls: {faulted})"
    assert len(recovery.provider_files()) == len(datasets)


def test_a_final_provider_error_fails_the_job_with_the_providers_message(recovery: Recovery) -> None:
    job_id = recovery.submit(recovery.upload(dataset_bytes(99)))
    recovery.emulator.state.inject("/fine_tuning/jobs", 400, count=1, method="POST")
    recovery.start_worker()
    assert recovery.wait_all_terminal([job_id], timeout=60) == {job_id: "failed"}
    with recovery.sessions() as session:
        job = session.scalars(select(Job).where(Job.id == job_id)).one()
        assert job.error is not None and job.error["message"], job.error
        assert job.provider_job_id is None
    assert recovery.provider_jobs() == []
