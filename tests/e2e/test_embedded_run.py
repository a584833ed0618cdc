"""``make run`` from the outside: ``python -m api.embedded`` serves, a job submitted over HTTP
reaches ``succeeded`` against the mounted emulator, and Ctrl-C stops the API and the worker.
A restart on the same ``var/`` keeps the fine-tuned model answering and finishes a job that was
running when it stopped."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from api.embedded import GRACEFUL_SHUTDOWN_SECONDS, WORKER_STOP_SECONDS

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
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINETUNER_", "OPENAI_", "TOGETHER_"))}
    env.update({"FINETUNER_VAR_DIR": str(tmp_path / "var"), "FINETUNER_POLL_INTERVAL_SECONDS": "0.5",
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
            # A Together job beside it: the mounted emulator's Together dialect at /emulator/together.
            together_job = http.post("/v1/jobs", json={"training_dataset_id": dataset.json()["id"],
                                                       "provider": "together", "suffix": "adder",
                                                       "model": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"})
            assert together_job.status_code == 202, together_job.text
            worker_log = tmp_path / "var" / "worker.log"
            for one in (job_id, together_job.json()["id"]):
                deadline = time.monotonic() + JOB_TIMEOUT
                status = "pending"
                while status not in ("succeeded", "failed", "cancelled") and time.monotonic() < deadline:
                    time.sleep(0.5)
                    status = http.get(f"/v1/jobs/{one}").json()["status"]
                assert status == "succeeded", (
                    f"job {one} ended {status}; worker log:\n{worker_log.read_text(errors='replace')[-4000:]}")
            body = http.get(f"/v1/jobs/{job_id}").json()
            assert body["fine_tuned_model"].startswith("ft:gpt-4o-mini-2024-07-18:")
            assert http.get(f"/v1/jobs/{job_id}/events").json()["data"], "provider events were recorded"
            together_body = http.get(f"/v1/jobs/{together_job.json()['id']}").json()
            assert together_body["fine_tuned_model"].startswith("emulator/Meta-Llama-3.1-8B-Instruct-Reference:adder-")
            assert http.get(f"/v1/jobs/{together_job.json()['id']}/metrics").json()["data"], "Together loss curve"

            # A live stream open on a long job (as the dashboard or `finetuner watch` holds one) must not
            # keep Ctrl-C waiting: it is cut after the graceful-shutdown bound.
            long_job = http.post("/v1/jobs", json={"training_dataset_id": dataset.json()["id"],
                                                   "model": "gpt-4o-mini-2024-07-18",
                                                   "hyperparameters": {"n_epochs": 50}})
            assert long_job.status_code == 202, long_job.text
            stream_open = threading.Event()
            stream_ended = threading.Event()

            def follow() -> None:
                with contextlib.suppress(httpx.HTTPError), httpx.Client(
                        base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as streamer, \
                        streamer.stream("GET", f"/v1/jobs/{long_job.json()['id']}/stream") as response:
                    stream_open.set()
                    for _ in response.iter_bytes():
                        pass
                stream_ended.set()

            threading.Thread(target=follow, daemon=True).start()
            assert stream_open.wait(30), "the stream did not open"
            time.sleep(0.5)
            assert not stream_ended.is_set(), "the long job ended before Ctrl-C: the stream check proves nothing"

        stopping = time.monotonic()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0, out.read_text(errors="replace")[-3000:]
        stop_seconds = time.monotonic() - stopping
        assert stop_seconds < GRACEFUL_SHUTDOWN_SECONDS + WORKER_STOP_SECONDS + 5, f"Ctrl-C took {stop_seconds:.1f} s"
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


def _start(tmp_path: Path, log_name: str, time_scale: str) -> tuple[subprocess.Popen[bytes], str, str, int, Path]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINETUNER_", "OPENAI_", "TOGETHER_"))}
    env.update({"FINETUNER_VAR_DIR": str(tmp_path / "var"), "FINETUNER_POLL_INTERVAL_SECONDS": "0.5",
                "PYTHONPATH": str(ROOT)})
    out = tmp_path / log_name
    with out.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.embedded", "--host", "127.0.0.1", "--port", "0", "--emulator-time-scale",
             time_scale], cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        url, key, worker_pid = _wait_for_banner(out, process)
    except BaseException:
        process.kill()
        process.wait(timeout=10)
        raise
    return process, url, key, worker_pid, out


def _stop(process: subprocess.Popen[bytes], worker_pid: int, out: Path) -> None:
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0, out.read_text(errors="replace")[-3000:]
    deadline = time.monotonic() + 10
    while _alive(worker_pid) and time.monotonic() < deadline:
        time.sleep(0.1)


def _kill(process: subprocess.Popen[bytes], worker_pid: int | None) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)
    if worker_pid is not None and _alive(worker_pid):
        os.kill(worker_pid, signal.SIGKILL)


def _all(http: httpx.Client, path: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    params: dict[str, str | int] = {"limit": 100}
    while True:
        page = http.get(path, params=params).json()
        rows += page["data"]
        if not page["has_more"]:
            return rows
        params["after"] = page["data"][-1]["id"]


def _wait_status(http: httpx.Client, job_id: str, wanted: set[str]) -> dict[str, object]:
    deadline = time.monotonic() + JOB_TIMEOUT
    while True:
        job: dict[str, object] = http.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in wanted or time.monotonic() > deadline:
            return job
        time.sleep(0.3)


@pytest.mark.timeout(400)
def test_make_run_restarted_keeps_the_fine_tuned_model_and_finishes_the_running_job(tmp_path: Path) -> None:
    """(a) a succeeded job's ``ft:`` model still answers after stop/start, with the job, its events and
    metrics unchanged; (b) a job running at the stop reaches ``succeeded`` after the start with a
    complete history (every step's metrics point, once)."""
    process, url, key, worker_pid, out = _start(tmp_path, "first.log", "0.05")
    worker: int | None = worker_pid
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
            small = http.post("/v1/datasets", files={"file": ("a.jsonl", _examples(20), "application/jsonl")})
            big = http.post("/v1/datasets", files={"file": ("b.jsonl", _examples(100), "application/jsonl")})
            assert small.status_code == big.status_code == 201, (small.text, big.text)
            first = http.post("/v1/jobs", json={"training_dataset_id": small.json()["id"], "suffix": "adder",
                                                "model": "gpt-4o-mini-2024-07-18",
                                                "hyperparameters": {"n_epochs": 1, "batch_size": 1}}).json()
            done = _wait_status(http, first["id"], {"succeeded", "failed", "cancelled"})
            assert done["status"] == "succeeded", done
            model = str(done["fine_tuned_model"])
            events = _all(http, f"/v1/jobs/{first['id']}/events")
            metrics = _all(http, f"/v1/jobs/{first['id']}/metrics")
            assert len(metrics) == 20
            second = http.post("/v1/jobs", json={"training_dataset_id": big.json()["id"], "suffix": "long",
                                                 "model": "gpt-4o-mini-2024-07-18",
                                                 "hyperparameters": {"n_epochs": 3, "batch_size": 1}}).json()
            running = _wait_status(http, second["id"], {"running", "succeeded", "failed", "cancelled"})
            assert running["status"] == "running", running
        _stop(process, worker_pid, out)
        worker = None

        process, url, key2, worker_pid, out = _start(tmp_path, "second.log", "0.05")
        worker = worker_pid
        assert key2 == key, "the development key is reused across restarts"
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
            again = http.get(f"/v1/jobs/{first['id']}").json()
            assert again == done
            assert _all(http, f"/v1/jobs/{first['id']}/events") == events
            assert _all(http, f"/v1/jobs/{first['id']}/metrics") == metrics
            chat = http.post("/emulator/v1/chat/completions", headers={"Authorization": "Bearer sk-local"},
                             json={"model": model, "messages": [{"role": "user", "content": "What is 7 plus 7?"}]})
            assert chat.status_code == 200, chat.text
            assert chat.json()["choices"][0]["message"]["content"] == "14"

            finished = _wait_status(http, second["id"], {"succeeded", "failed", "cancelled"})
            assert finished["status"] == "succeeded", finished
            steps = [m["step"] for m in _all(http, f"/v1/jobs/{second['id']}/metrics")]
            assert steps == list(range(1, 301)), f"metrics steps are not 1..300 once each: {steps[:5]}…{steps[-5:]}"
            messages = [str(e["message"]) for e in _all(http, f"/v1/jobs/{second['id']}/events")]
            assert messages[0].startswith("Created fine-tuning job")
            assert messages[-1] == "The job has successfully completed"
            transitions = [t["to_status"] for t in _all(http, f"/v1/jobs/{second['id']}/transitions")]
            assert transitions[-2:] == ["running", "succeeded"], transitions
        _stop(process, worker_pid, out)
        worker = None
    finally:
        _kill(process, worker)
