""""Created at the provider, but the answer never reached us", reached by the emulator itself: half
of the uploads and job creations are done and then answered too late (past the worker's 2 s
provider timeout), while the worker is SIGKILLed at seeded random moments. Still exactly one
provider job per job and one upload per distinct file."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.settings import FaultProfile
from tests.integration.recovery.conftest import Recovery, build_recovery, dataset_bytes

N_JOBS = 12
N_FILES = 6
KILLS = 3
SEED = 20261202
LOST = FaultProfile(rate_answer_lost=0.5, answer_lost_seconds=3.0, paths=["/files", "/fine_tuning/jobs"])


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Recovery]:
    with build_recovery(tmp_path, emulator_overrides={"faults": LOST}) as recovery:
        yield recovery


def test_lost_answers_and_random_kills_still_make_one_provider_job_per_job_and_one_upload_per_file(
        stack: Recovery) -> None:
    rng = random.Random(SEED)
    datasets = [stack.upload(dataset_bytes(200 + i), f"lost-{i}.jsonl") for i in range(N_FILES)]
    job_ids = [stack.submit(datasets[i % N_FILES], suffix=f"lost{i}") for i in range(N_JOBS)]
    for _ in range(KILLS):
        worker = stack.start_worker()
        time.sleep(rng.uniform(0.5, 3.0))
        Recovery.kill(worker)
    stack.start_worker()
    final = stack.wait_all_terminal(job_ids, timeout=180)

    lost = stack.emulator.state.faults.served["answer_lost"]
    print(f"{lost} answers lost, {KILLS} kills: {Counter(final.values())}")
    assert lost > 0, "the fault should have fired"
    assert Counter(final.values()) == {"succeeded": N_JOBS}, final
    provider_jobs = stack.provider_jobs()
    tags = Counter(j.metadata["finetuner_job_id"] for j in provider_jobs)
    assert len(provider_jobs) == N_JOBS and set(tags) == set(job_ids) and max(tags.values()) == 1, tags
    files = stack.provider_files()
    assert len(files) == N_FILES, f"{len(files)} uploads for {N_FILES} distinct files ({lost} answers lost)"
