"""The emulator's state file: a restart keeps jobs, files, models, checkpoints and events.

Driven in-process through the ASGI app (no server), with the clock pushed by the test hook, so the
whole file runs in about a second. "Restart" is a new app on the same state file; "stop" is the old
one's ticker stopped without a final save, as a killed process would leave it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from emulator import EmulatorSettings, create_app
from emulator.state import EmulatorState
from tests.emulator.data import chat_example, chat_file

HEADERS = {"Authorization": "Bearer sk-anything"}


def _app(path: Path, time_scale: float = 0.002) -> tuple[FastAPI, TestClient]:
    app = create_app(EmulatorSettings(state_file=path, time_scale=time_scale, tick_interval=0.01))
    return app, TestClient(app, headers=HEADERS)


def _state(app: FastAPI) -> EmulatorState:
    state: EmulatorState = app.state.emulator
    return state


def _kill(app: FastAPI) -> None:
    """Stop the ticker without the tidy final save, like SIGKILL."""
    state = _state(app)
    state._stop.set()
    if state._ticker is not None:
        state._ticker.join(timeout=2)


def _start_job(client: TestClient, n: int = 30, epochs: int = 3) -> dict[str, Any]:
    file_id = client.post("/files", data={"purpose": "fine-tune"},
                          files={"file": ("train.jsonl", chat_file(n), "application/jsonl")}).json()["id"]
    job = client.post("/fine_tuning/jobs", json={
        "model": "gpt-4o-mini", "training_file": file_id, "suffix": "shop",
        "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": epochs}}}})
    assert job.status_code == 200, job.text
    body: dict[str, Any] = job.json()
    return body


def _wait(client: TestClient, job_id: str, done: Any, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/fine_tuning/jobs/{job_id}").json()
        if done(job) or time.monotonic() > deadline:
            return job
        time.sleep(0.02)


def _events(client: TestClient, job_id: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = client.get(f"/fine_tuning/jobs/{job_id}/events", params={"limit": 1000}).json()["data"]
    return data


def test_a_fine_tuned_model_still_answers_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "emulator.db"
    app, client = _app(path)
    job = _start_job(client)
    done = _wait(client, job["id"], lambda j: j["status"] == "succeeded")
    assert done["status"] == "succeeded", done
    events = _events(client, job["id"])
    checkpoints = client.get(f"/fine_tuning/jobs/{job['id']}/checkpoints").json()["data"]
    result = client.get(f"/files/{done['result_files'][0]}/content").content
    _kill(app)

    app2, again = _app(path)
    try:
        assert again.get(f"/fine_tuning/jobs/{job['id']}").json() == done
        assert _events(again, job["id"]) == events
        assert again.get(f"/fine_tuning/jobs/{job['id']}/checkpoints").json()["data"] == checkpoints
        assert again.get(f"/files/{done['result_files'][0]}/content").content == result
        assert again.get(f"/files/{done['training_file']}/content").content == chat_file(30)
        example = chat_example(7)
        answer = again.post("/chat/completions", json={
            "model": done["fine_tuned_model"], "messages": example["messages"][:2]})
        assert answer.status_code == 200, answer.text
        assert answer.json()["choices"][0]["message"]["content"] == example["messages"][2]["content"]
    finally:
        _state(app2).close()


def test_a_job_running_when_the_process_stopped_resumes_its_clock_and_succeeds(tmp_path: Path) -> None:
    path = tmp_path / "emulator.db"
    app, client = _app(path, time_scale=0.01)
    job = _start_job(client, n=40, epochs=3)
    running = _wait(client, job["id"], lambda j: j["status"] == "running" and len(_events(client, j["id"])) > 8)
    assert running["status"] == "running", running
    seen = _events(client, job["id"])
    steps_seen = max(e["data"]["step"] for e in seen if e["type"] == "metrics")
    _kill(app)
    time.sleep(1.0)  # downtime: long enough for the whole job to have finished, had time kept running

    app2, again = _app(path, time_scale=0.01)
    try:
        resumed = again.get(f"/fine_tuning/jobs/{job['id']}").json()
        assert resumed["status"] == "running", "the downtime was replayed as training time"
        after = _events(again, job["id"])
        assert after[-len(seen):] == seen, "events seen before the stop are kept, ids and all"
        steps_now = max(e["data"]["step"] for e in after if e["type"] == "metrics")
        assert steps_now < 120, f"the job jumped from step {steps_seen} to {steps_now} over the downtime"
        done = _wait(again, job["id"], lambda j: j["status"] in ("succeeded", "failed", "cancelled"))
        assert done["status"] == "succeeded", done
        history = list(reversed(_events(again, job["id"])))
        steps = [e["data"]["step"] for e in history if e["type"] == "metrics"]
        assert steps == list(range(1, 121)), "one metrics event per step, none lost or repeated"
        created = [e["created_at"] for e in history]
        assert created == sorted(created)
        assert history[-1]["message"] == "The job has successfully completed"
    finally:
        _state(app2).close()


def test_without_a_state_file_nothing_is_written(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    app = create_app(EmulatorSettings())
    client = TestClient(app, headers=HEADERS)
    _start_job(client, n=12, epochs=1)
    _state(app).close()
    assert list(tmp_path.iterdir()) == []
