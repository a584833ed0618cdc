"""``make run`` from the outside: ``python -m api.embedded`` serves, a job submitted over HTTP
reaches ``succeeded`` against the mounted emulator, and Ctrl-C stops the API and the worker."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90.0
JOB_TIMEOUT = 120.0


def _examples(n: int) -> bytes:
    return "".join(json.dumps({"messages": [
        {"role": "user", "content": f"What is {i} plus {i}?"},
        {"role": "assistant", "content": str(2 * i)},
    ]}) + "\n" for i in range(n)).encode()


def _wait_for_banner(out: Path, process: subprocess.Popen[bytes]) -> tuple[str, str, int]:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        text = out.read_text(errors="replace")
        url = re.search(r"running at (http://\S+)", text)
        key = re.search(r"API key:\s+(ftk_\S+)", text)
        worker = re.search(r"worker:\s+pid (\d+)", text)
        if url and key and worker:
            return url.group(1), key.group(1), int(worker.group(1))
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(f"api.embedded did not print its banner:\n{out.read_text(errors='replace')[-4000:]}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.timeout(300)
def test_make_run_serves_and_a_job_reaches_succeeded_then_ctrl_c_stops_everything(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINETUNER_", "OPENAI_"))}
    env.update({"FINETUNER_VAR_DIR": str(tmp_path / "var"), "FINETUNER_SWEEP_INTERVAL_SECONDS": "0.5",
                "PYTHONPATH": str(ROOT)})
    out = tmp_path / "embedded.log"
    with out.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.embedded", "--host", "127.0.0.1", "--port", "0", "--emulator-time-scale",
             "0.005"], cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT)
    worker_pid = None
    try:
        url, key, worker_pid = _wait_for_banner(out, process)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
            assert http.get("/docs").status_code == 200
            dataset = http.post("/v1/datasets", files={"file": ("train.jsonl", _examples(20), "application/jsonl")})
            assert dataset.status_code == 201, dataset.text
            job = http.post("/v1/jobs", json={"training_dataset_id": dataset.json()["id"],
                                              "model": "gpt-4o-mini-2024-07-18"})
            assert job.status_code == 202, job.text
            job_id = job.json()["id"]
            deadline = time.monotonic() + JOB_TIMEOUT
            status = "pending"
            while status not in ("succeeded", "failed", "cancelled") and time.monotonic() < deadline:
                time.sleep(0.5)
                status = http.get(f"/v1/jobs/{job_id}").json()["status"]
            worker_log = tmp_path / "var" / "worker.log"
            assert status == "succeeded", (
                f"job ended {status}; worker log:\n{worker_log.read_text(errors='replace')[-4000:]}")
            body = http.get(f"/v1/jobs/{job_id}").json()
            assert body["fine_tuned_model"].startswith("ft:gpt-4o-mini-2024-07-18:")
            assert http.get(f"/v1/jobs/{job_id}/events").json()["data"], "provider events were recorded"

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0, out.read_text(errors="replace")[-3000:]
        deadline = time.monotonic() + 10
        while _alive(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker_pid), "the worker outlived api.embedded"
        assert "stopped." in out.read_text(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        if worker_pid is not None and _alive(worker_pid):
            os.kill(worker_pid, signal.SIGKILL)
