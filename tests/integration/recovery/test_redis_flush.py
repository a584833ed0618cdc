"""The database is the truth: FLUSHALL on the broker mid-run loses nothing."""

from __future__ import annotations

from collections import Counter

import redis

from tests.integration.recovery.conftest import REDIS_URL, Recovery, dataset_bytes


def test_jobs_finish_after_the_broker_is_flushed_mid_run(recovery: Recovery) -> None:
    datasets = [recovery.upload(dataset_bytes(i), f"flush-{i}.jsonl") for i in range(4)]
    job_ids = [recovery.submit(datasets[i % 4]) for i in range(12)]
    state = recovery.emulator.state
    state.inject("/files", 200, count=4, method="POST", delay=0.8)  # keep some jobs in our part when we flush
    recovery.start_worker()
    recovery.wait_for(lambda: any(s != "pending" for s in recovery.statuses(job_ids).values()), timeout=30,
                      what="the pipeline to start")
    before = Counter(recovery.statuses(job_ids).values())
    client = redis.Redis.from_url(REDIS_URL)
    assert client.flushall()
    client.close()
    final = recovery.wait_all_terminal(job_ids, timeout=90)
    assert Counter(final.values()) == {"succeeded": 12}, (before, final)
    assert len(recovery.provider_jobs()) == 12
