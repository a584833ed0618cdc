"""SIGKILL the worker during upload and create of Together jobs: each job still ends ``succeeded``
with exactly one Together job (found by the tag in its suffix) and one upload per distinct file."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.providers.together_convert import job_tag, tag_of
from emulator import EmulatorSettings, create_together_app
from emulator.settings import FaultProfile
from tests.emulator.server import RunningEmulator, serve_emulator
from tests.integration.recovery.conftest import EMULATOR_KEY, TIME_SCALE, Recovery, build_recovery, dataset_bytes

pytestmark = pytest.mark.integration
LLAMA = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
N_JOBS = 6
N_FILES = 3


@pytest.fixture
def together_recovery(tmp_path: Path) -> Iterator[tuple[Recovery, RunningEmulator]]:
    with serve_emulator(EmulatorSettings(api_key=EMULATOR_KEY, time_scale=TIME_SCALE), prefix="/together",
                        factory=create_together_app) as together, build_recovery(tmp_path) as stack:
        stack.env.update({"TOGETHER_BASE_URL": together.base_url, "TOGETHER_API_KEY": together.api_key})
        yield stack, together


def test_together_jobs_survive_sigkill_during_upload_and_create(
        together_recovery: tuple[Recovery, RunningEmulator]) -> None:
    recovery, together = together_recovery
    datasets = [recovery.upload(dataset_bytes(100 + i), f"tg-kill-{i}.jsonl") for i in range(N_FILES)]
    job_ids = [recovery.submit(datasets[i % N_FILES], model=LLAMA, provider="together", suffix=f"k{i}")
               for i in range(N_JOBS)]
    state = together.state
    kills: list[str] = []

    def kill_when(label: str, path: str, method: str) -> None:
        state.inject(path, 200, count=4, method=method, delay=1.0)  # slow, so the kill lands mid-call
        worker = recovery.start_worker()
        recovery.wait_for(lambda: any(c.method == method and c.path == path for c in state.calls), timeout=30,
                          what=f"the {label} phase")
        time.sleep(0.4)
        Recovery.kill(worker)
        kills.append(f"{label}: {Counter(recovery.statuses(job_ids).values())}")

    kill_when("upload", "/v1/files", "POST")
    kill_when("create", "/v1/fine-tunes", "POST")
    state.clear_faults()

    recovery.start_worker()
    final = recovery.wait_all_terminal(job_ids, timeout=120)

    assert Counter(final.values()) == {"succeeded": N_JOBS}, (final, kills)
    _assert_one_together_job_per_job_and_one_upload_per_file(together, job_ids, f"kills: {kills}")
    assert len(kills) == 2


def _assert_one_together_job_per_job_and_one_upload_per_file(together: RunningEmulator, job_ids: list[str],
                                                             what: str) -> None:
    listed = together.together_client().fine_tuning.list().data
    tags = Counter(tag_of(j.suffix) for j in listed)
    assert len(listed) == N_JOBS, f"{len(listed)} Together jobs for {N_JOBS} jobs; {what}"
    assert set(tags) == {job_tag(j) for j in job_ids} and max(tags.values()) == 1, "one Together job per job"
    files = together.together_client().files.list().data
    assert len(files) == N_FILES, f"{len(files)} files uploaded for {N_FILES} datasets; {what}"


#: Half of the uploads' finishing calls and job creations are done, then answered past the worker's 2 s timeout.
LOST = FaultProfile(rate_answer_lost=0.5, answer_lost_seconds=3.0, paths=["/v1/files/*/preprocess", "/v1/fine-tunes"])
SEED = 20261203


def test_together_answers_lost_and_random_kills_still_make_one_together_job_per_job_and_one_upload_per_file(
        tmp_path: Path) -> None:
    rng = random.Random(SEED)
    settings = EmulatorSettings(api_key=EMULATOR_KEY, time_scale=TIME_SCALE, faults=LOST, seed=SEED)
    with serve_emulator(settings, prefix="/together", factory=create_together_app) as together, \
            build_recovery(tmp_path) as recovery:
        recovery.env.update({"TOGETHER_BASE_URL": together.base_url, "TOGETHER_API_KEY": together.api_key})
        datasets = [recovery.upload(dataset_bytes(300 + i), f"tg-lost-{i}.jsonl") for i in range(N_FILES)]
        job_ids = [recovery.submit(datasets[i % N_FILES], model=LLAMA, provider="together", suffix=f"l{i}")
                   for i in range(N_JOBS)]
        for _ in range(2):
            worker = recovery.start_worker()
            time.sleep(rng.uniform(0.5, 3.0))
            Recovery.kill(worker)
        recovery.start_worker()
        final = recovery.wait_all_terminal(job_ids, timeout=180)

        lost = together.state.faults.served["answer_lost"]
        print(f"Together: {lost} answers lost, 2 kills: {Counter(final.values())}")
        assert lost > 0, "the fault should have fired"
        assert Counter(final.values()) == {"succeeded": N_JOBS}, final
        _assert_one_together_job_per_job_and_one_upload_per_file(together, job_ids, f"{lost} answers lost")
