"""SIGKILL the worker in the middle of an evaluation: the next worker resumes it and never asks a
finished item again — proven from the emulator's own log of chat calls."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from core.models import EvaluationItem
from tests.fixtures.evaluation import jsonl, pricer_rows
from tests.integration.recovery.conftest import Recovery, build_recovery

N_TEST = 30
MODELS = 2  # the fine-tuned model and the base model (the baseline asks nothing)
CONCURRENCY = 3


def _chat_calls(recovery: Recovery) -> int:
    return sum(1 for c in recovery.emulator.state.calls if c.method == "POST" and c.path == "/chat/completions")


def _answered(recovery: Recovery, evaluation_id: str) -> int:
    with recovery.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(EvaluationItem).where(
            EvaluationItem.evaluation_id == evaluation_id, EvaluationItem.target_key != "baseline",
            EvaluationItem.status != "pending")) or 0)


def _evaluation(recovery: Recovery, evaluation_id: str) -> dict[str, Any]:
    body: dict[str, Any] = recovery.client.get(f"/v1/evaluations/{evaluation_id}").json()
    return body


def test_a_killed_evaluation_resumes_without_asking_finished_items_again(tmp_path: Path) -> None:
    with build_recovery(tmp_path, evaluation_lease_seconds=2.0) as recovery:
        rows = pricer_rows(100, seed=4)
        train = recovery.upload(jsonl(rows[:70]), "train.jsonl")
        test = recovery.upload(jsonl(rows[70:70 + N_TEST]), "test.jsonl")
        job_id = recovery.submit(train, suffix="resume")
        worker = recovery.start_worker()
        recovery.wait_for(lambda: recovery.statuses([job_id])[job_id] == "succeeded", timeout=60,
                          what="the job to succeed")
        state = recovery.emulator.state
        state.inject("/chat/completions", 200, count=1000, method="POST", delay=0.15)  # slow answers: room to kill
        state.reset_calls()
        created = recovery.client.post(f"/v1/jobs/{job_id}/evaluations", json={
            "dataset_id": test, "task": "number", "compare_with": ["base"], "concurrency": CONCURRENCY})
        assert created.status_code == 202, created.text
        evaluation_id = created.json()["id"]
        recovery.wait_for(lambda: _answered(recovery, evaluation_id) >= 12, timeout=60,
                          what="a dozen answers before the kill")

        Recovery.kill(worker)
        time.sleep(0.3)
        asked_before, answered_before = _chat_calls(recovery), _answered(recovery, evaluation_id)
        assert _evaluation(recovery, evaluation_id)["status"] == "running"
        recovery.start_worker()
        recovery.wait_for(lambda: _evaluation(recovery, evaluation_id)["status"] in ("succeeded", "failed"),
                          timeout=90, what="the evaluation to finish after the kill")

        asked_total = _chat_calls(recovery)
        total = N_TEST * MODELS
        print(f"resume: {asked_before} chat calls before the kill ({answered_before} answers stored), "
              f"{asked_total - asked_before} after, {asked_total} in all for {total} items")
        assert _evaluation(recovery, evaluation_id)["status"] == "succeeded"
        assert asked_total - asked_before == total - answered_before, "only unanswered items were asked again"
        assert asked_total - total == asked_before - answered_before <= CONCURRENCY, \
            "the only repeats are the calls in flight at the kill"
        assert _answered(recovery, evaluation_id) == total
