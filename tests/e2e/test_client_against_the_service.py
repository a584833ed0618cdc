"""The seed's snippet, verbatim, against a running service (API + worker + emulator); its async twin;
``finetuner watch`` in a pseudo-terminal, exiting 0 on success and 3 on a cancel; and what operators
see of it: ``/metrics`` counters that move, JSON log lines carrying the job's id."""

from __future__ import annotations

import asyncio
import io
import json
import os
import pty
import select
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest
from rich.console import Console

from finetuner import AsyncFineTuner, FineTuner
from tests.e2e.test_embedded_run import ROOT
from tests.fixtures.service import Service

pytestmark = pytest.mark.timeout(240)

# What people write today (the seed), character for character.
SEED_SNIPPET = """\
ft = FineTuner(wandb_project="my-wandb-project")
job_id = ft.create_fine_tune_job(train_file_id, valid_file_id, base_model="gpt-4o-mini", n_epochs=1, suffix="pricer")
"""


def examples(n: int, *, start: int = 0) -> bytes:
    return "".join(json.dumps({"messages": [
        {"role": "user", "content": f"What does item {i} cost?"},
        {"role": "assistant", "content": f"{i * 3} dollars"},
    ]}) + "\n" for i in range(start, start + n)).encode()


@pytest.fixture
def env(service: Service, monkeypatch: pytest.MonkeyPatch) -> Service:
    monkeypatch.setenv("FINETUNER_URL", service.url)
    monkeypatch.setenv("FINETUNER_API_KEY", service.key)
    return service


def _datasets(service: Service) -> tuple[str, str]:
    with FineTuner(base_url=service.url, api_key=service.key) as ft:
        return ft.upload_dataset(examples(30), name="train.jsonl").id, \
            ft.upload_dataset(examples(10, start=500), name="valid.jsonl").id


def test_the_seed_snippet_runs_verbatim_and_wait_renders_progress_to_success(env: Service) -> None:
    train_file_id, valid_file_id = _datasets(env)
    namespace: dict[str, Any] = {"FineTuner": FineTuner, "train_file_id": train_file_id,
                                 "valid_file_id": valid_file_id}

    exec(SEED_SNIPPET, namespace)

    ft: FineTuner = namespace["ft"]
    screen = io.StringIO()
    job = ft.wait(namespace["job_id"], progress=True, timeout=180, poll_interval=0.3,
                  console=Console(file=screen, force_terminal=True, width=110))
    assert job.status == "succeeded", f"{job}\n{env.output()}"
    assert job.fine_tuned_model and ":pricer:" in job.fine_tuned_model
    assert job.wandb == {"project": "my-wandb-project"}
    shown = screen.getvalue()
    assert "succeeded" in shown and "step" in shown and "train " in shown, shown[-2000:]
    points = ft.metrics(job.id)
    total = points[-1].total_steps
    assert total and f"step {total}/{total}" in shown, "the bar did not reach the last step"
    assert any(p.valid_loss is not None for p in points), "the validation file's loss is missing"
    # the provider received W&B as its native integrations entry
    emulator_job = httpx.get(f"{env.url}/emulator/v1/fine_tuning/jobs/{job.provider_job_id}",
                             headers={"Authorization": "Bearer sk-any"}).json()
    [integration] = emulator_job["integrations"]
    assert integration["type"] == "wandb" and integration["wandb"]["project"] == "my-wandb-project"


def test_the_async_twin_does_the_same(env: Service) -> None:
    train_file_id, valid_file_id = _datasets(env)

    async def scenario() -> tuple[str, str]:
        async with AsyncFineTuner(wandb_project="my-wandb-project") as ft:
            job_id = await ft.create_fine_tune_job(train_file_id, valid_file_id, base_model="gpt-4o-mini", n_epochs=1,
                                                   suffix="pricer")
            job = await ft.wait(job_id, progress=True, timeout=180, poll_interval=0.3,
                                console=Console(file=io.StringIO(), force_terminal=True))
            return job.status, str(job.fine_tuned_model)

    status, model = asyncio.run(scenario())
    assert status == "succeeded", env.output()
    assert ":pricer:" in model


def _watch_in_pty(service: Service, job_id: str, *, while_watching: Any = None) -> tuple[int, str]:
    """``finetuner watch JOB`` with a terminal for stdout; returns (exit code, everything it drew)."""
    master, slave = pty.openpty()
    environment = {**os.environ, "FINETUNER_URL": service.url, "FINETUNER_API_KEY": service.key,
                   "PYTHONPATH": str(ROOT), "COLUMNS": "110", "LINES": "40", "TERM": "xterm-256color"}
    process = subprocess.Popen([sys.executable, "-m", "finetuner", "watch", job_id], stdin=slave, stdout=slave,
                               stderr=slave, env=environment, cwd=ROOT, close_fds=True)
    os.close(slave)
    drawn = b""
    deadline = time.monotonic() + 180
    acted = False
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                drawn += chunk
            if while_watching is not None and not acted and b"running" in drawn and b"step" in drawn:
                while_watching()
                acted = True
            if process.poll() is not None and not ready:
                break
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(master)
    return code, drawn.decode(errors="replace")


def test_watch_in_a_terminal_shows_progress_and_exits_0_when_the_job_succeeds(env: Service) -> None:
    train_file_id, valid_file_id = _datasets(env)
    with FineTuner() as ft:
        job_id = ft.create_fine_tune_job(train_file_id, valid_file_id, n_epochs=2, suffix="watched")

    code, drawn = _watch_in_pty(env, job_id)

    assert code == 0, drawn[-3000:]
    assert "running" in drawn and "succeeded" in drawn, drawn[-3000:]
    assert "ETA" in drawn and "train " in drawn and "valid " in drawn, drawn[-3000:]
    assert "\x1b[" in drawn, "no terminal control codes: the live view was not drawn"


def test_watch_exits_non_zero_when_the_job_is_cancelled(env: Service) -> None:
    ft = FineTuner()
    long_run = ft.upload_dataset(examples(100, start=1000), name="long.jsonl").id  # 500 steps: time to cancel
    job_id = ft.create_fine_tune_job(long_run, n_epochs=5, suffix="cancelled")

    code, drawn = _watch_in_pty(env, job_id, while_watching=lambda: ft.cancel(job_id))

    assert code == 3, drawn[-3000:]
    assert "cancelled" in drawn, drawn[-3000:]
    assert ft.get_job(job_id).status == "cancelled"


def _scrape(service: Service) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{service.url}/metrics").text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_counters_move_and_the_worker_logs_json_lines_with_the_job_id(env: Service) -> None:
    before = _scrape(env)
    train_file_id, _ = _datasets(env)
    with FineTuner() as ft:
        job = ft.wait(ft.create_fine_tune_job(train_file_id, n_epochs=1, suffix="observed"), timeout=180,
                      poll_interval=0.3)
    assert job.status == "succeeded"
    time.sleep(1.0)  # the worker's last task ends (and writes its samples) just after the job's last commit
    after = _scrape(env)

    def moved(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert moved("finetuner_jobs", status="succeeded") >= 1
    assert moved("finetuner_provider_calls_total", operation="create_job", outcome="ok") >= 1
    assert moved("finetuner_tasks_total", task="finetuner.advance_job", outcome="ok") >= 1
    assert moved("finetuner_task_duration_seconds_count", task="finetuner.advance_job") >= 1
    assert moved("finetuner_poll_pass_duration_seconds_count") >= 1, "no polling pass was timed"
    lines = [json.loads(line) for line in (env.var_dir / "worker.log").read_text().splitlines()
             if line.startswith("{")]
    about_job = [line for line in lines if line.get("job_id") == job.id]
    assert about_job, "no JSON log line of the worker carries the job's id"
    assert any("succeeded" in line["message"] for line in about_job)
    assert all(line["tenant_id"] for line in about_job if "->" in line["message"])


def test_a_job_asking_for_wandb_sync_leaves_an_offline_run_with_its_loss_history(env: Service) -> None:
    from tests.fixtures.wandb_log import history

    train_file_id, valid_file_id = _datasets(env)
    with FineTuner() as ft:
        job_id = ft.create_fine_tune_job(train_file_id, valid_file_id, n_epochs=1, suffix="synced",
                                         wandb={"project": "my-wandb-project", "sync": True})
        job = ft.wait(job_id, timeout=180, poll_interval=0.3)
        points = ft.metrics(job_id)
    assert job.status == "succeeded"
    deadline = time.monotonic() + 60
    runs: list[Any] = []
    while not runs and time.monotonic() < deadline:
        runs = list((env.var_dir.parent / "wandb").rglob(f"run-{job_id}.wandb"))
        time.sleep(0.5)
    assert runs, f"no offline W&B run for {job_id}\n{env.output()}"
    rows = history(runs[0])
    while len(rows) < len(points) and time.monotonic() < deadline:  # wandb's core process writes on its own
        time.sleep(0.3)
        rows = history(runs[0])
    assert [r["_step"] for r in rows] == [p.step for p in points]
    assert [r["train_loss"] for r in rows] == pytest.approx([p.train_loss for p in points])
