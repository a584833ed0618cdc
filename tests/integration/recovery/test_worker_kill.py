"""SIGKILL the worker (pool and all) during upload, create and sync, again and again: every job
still ends ``succeeded`` exactly once at the provider, and each distinct file is uploaded once."""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Any

from core.states import AT_PROVIDER
from tests.integration.recovery.conftest import Recovery, dataset_bytes

N_JOBS = 30
N_FILES = 10
SEED = 20261123


def _phase(recovery: Recovery, job_ids: list[str]) -> dict[str, int]:
    counts = Counter(recovery.statuses(job_ids).values())
    return {"pending": counts["pending"], "uploading": counts["uploading"], "submitting": counts["submitting"],
            "at_provider": sum(counts[s.value] for s in AT_PROVIDER), "succeeded": counts["succeeded"]}


def _is_poll_list(call: Any) -> bool:
    """The poll's page of jobs (a tag look-up is the same path with a ``metadata[…]`` filter)."""
    return call.method == "GET" and call.path == "/fine_tuning/jobs" and not any(
        key.startswith("metadata") for key in call.query)


def _in_flight(recovery: Recovery) -> str:
    calls = recovery.emulator.state.calls
    if not calls:
        return "-"
    last = calls[-1]
    return "the poll's job list" if _is_poll_list(last) else f"{last.method} {last.path}"


def test_thirty_jobs_survive_repeated_sigkill_of_the_worker(recovery: Recovery) -> None:
    rng = random.Random(SEED)
    datasets = [recovery.upload(dataset_bytes(i), f"kill-{i}.jsonl") for i in range(N_FILES)]
    job_ids = [recovery.submit(datasets[i % N_FILES], suffix=f"k{i}") for i in range(N_JOBS)]
    state = recovery.emulator.state
    kills: list[str] = []

    def kill_when(label: str, ready: object, *, min_wait: float, max_wait: float) -> None:
        worker = recovery.start_worker()
        recovery.wait_for(ready, timeout=30, what=f"the {label} phase")  # type: ignore[arg-type]
        time.sleep(rng.uniform(min_wait, max_wait))
        where = f"kill {len(kills) + 1} ({label}): in flight {_in_flight(recovery)}; jobs {_phase(recovery, job_ids)}"
        Recovery.kill(worker)
        kills.append(where)
        print(where)

    # During upload: uploads are slowed down so the kill lands with one in flight.
    state.inject("/files", 200, count=6, method="POST", delay=1.0)
    kill_when("upload", lambda: any(c.method == "POST" and c.path == "/files" for c in state.calls),
              min_wait=0.2, max_wait=0.6)
    # During create: creates are slowed down the same way.
    state.inject("/fine_tuning/jobs", 200, count=6, method="POST", delay=1.0)
    kill_when("create", lambda: any(c.method == "POST" and c.path == "/fine_tuning/jobs" for c in state.calls),
              min_wait=0.2, max_wait=0.6)
    # During sync: the poll's list call is slowed down so the kill lands inside a poll.
    seen = len(state.calls)
    state.inject("/fine_tuning/jobs", 200, count=6, method="GET", delay=1.0)
    kill_when("sync", lambda: any(_is_poll_list(c) for c in state.calls[seen:]), min_wait=0.2, max_wait=0.6)
    # And twice more at seeded random moments, whatever is going on.
    for _ in range(2):
        kill_when("random", lambda: True, min_wait=0.5, max_wait=2.0)

    recovery.start_worker()
    final = recovery.wait_all_terminal(job_ids, timeout=120)

    assert Counter(final.values()) == {"succeeded": N_JOBS}, (final, kills)
    provider_jobs = recovery.provider_jobs()
    assert len(provider_jobs) == N_JOBS, f"{len(provider_jobs)} provider jobs for {N_JOBS} jobs; kills: {kills}"
    tags = Counter(j.metadata["finetuner_job_id"] for j in provider_jobs)
    assert set(tags) == set(job_ids) and max(tags.values()) == 1, "one provider job per job, each tagged"
    files = recovery.provider_files()
    assert len(files) == N_FILES, f"{len(files)} files uploaded for {N_FILES} distinct datasets; kills: {kills}"
    assert len({f.filename for f in files}) == N_FILES
    assert len(kills) == 5
