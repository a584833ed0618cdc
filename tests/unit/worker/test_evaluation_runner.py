"""Evaluations run against the real emulator: every item stored, metrics equal to a recomputation
from the stored items, failed calls marked on their item, a cancel keeping what arrived, and a
resumed run that never asks a finished item again (counted from the emulator's own call log)."""

from __future__ import annotations

import datetime as dt
import io
import math
from typing import Any

import pytest
from sqlalchemy import select

from core.catalog import ModelCatalog
from core.evaluation import metrics as m
from core.evaluation.parse import parse_number
from core.evaluation.runner import EvaluationRunner
from core.evaluation.service import EvaluationRequest, compute_results, create_evaluation, request_cancel
from core.evaluation.states import EvaluationStatus
from core.models import Checkpoint, Dataset, Evaluation, EvaluationItem, Job, utcnow
from tests.fixtures.evaluation import jsonl, label_rows, pricer_rows
from tests.unit.worker.conftest import World
from tests.unit.worker.helpers import wait_for


def _dataset(world: World, content: bytes, n: int) -> str:
    blob = world.store.put_stream(io.BytesIO(content))
    with world.sessions() as session:
        dataset = Dataset(tenant_id=world.tenant_id, name="data.jsonl", sha256=blob.sha256, bytes=blob.size,
                          canonical_sha256=blob.sha256, canonical_bytes=blob.size, format="chat", num_examples=n,
                          status="valid", report={"errors": []})
        session.add(dataset)
        session.commit()
        return dataset.id


def _trained_job(world: World, rows: list[dict[str, Any]]) -> str:
    job_id = world.job(_dataset(world, jsonl(rows), len(rows)))
    world.pipeline.advance(job_id)

    def finished() -> Job | None:
        world.syncer.poll()
        with world.sessions() as session:
            job = session.get(Job, job_id)
            return job if job is not None and job.status in ("succeeded", "failed", "cancelled") else None

    job: Job = wait_for(finished, timeout=60, interval=0.1, what=f"job {job_id} to finish")
    assert job.status == "succeeded", job.error
    return job_id


def _runner(world: World, **kwargs: Any) -> EvaluationRunner:
    return EvaluationRunner(world.sessions, provider_for=lambda _name: world.provider, **kwargs)


def _evaluate(world: World, job_id: str, dataset_id: str, **fields: Any) -> str:
    with world.sessions() as session:
        request = EvaluationRequest(dataset_id=dataset_id, **fields)
        evaluation = create_evaluation(session, world.tenant_id, job_id, request, catalog=ModelCatalog.load(None),
                                       store=world.store)
        session.commit()
        return evaluation.id


def _evaluation(world: World, evaluation_id: str) -> Evaluation:
    with world.sessions() as session:
        row = session.get(Evaluation, evaluation_id)
        assert row is not None
        return row


def _items(world: World, evaluation_id: str) -> list[EvaluationItem]:
    with world.sessions() as session:
        return list(session.scalars(select(EvaluationItem).where(EvaluationItem.evaluation_id == evaluation_id)))


def _chat_calls(world: World) -> int:
    return sum(1 for c in world.emulator.state.calls if c.method == "POST" and c.path == "/chat/completions")


@pytest.fixture
def pricer(world: World) -> tuple[str, str]:
    rows = pricer_rows(150, seed=3)
    job_id = _trained_job(world, rows[:120])
    return job_id, _dataset(world, jsonl(rows[120:]), 30)


def test_pricer_fine_tuned_rmse_beats_the_baseline_and_the_base_model_parses_nothing(
        world: World, pricer: tuple[str, str]) -> None:
    job_id, test_set = pricer
    evaluation_id = _evaluate(world, job_id, test_set, task="number", compare_with=["base", "baseline"])

    outcome = _runner(world).run(evaluation_id)

    evaluation = _evaluation(world, evaluation_id)
    assert outcome.kind == "finished" and evaluation.status == "succeeded", (outcome, evaluation.error)
    results = evaluation.results
    assert results is not None and set(results) == {"fine_tuned", "base", "baseline"}
    fine_tuned, base, baseline = results["fine_tuned"], results["base"], results["baseline"]
    assert evaluation.baseline is not None
    print(f"pricer RMSE: fine-tuned {fine_tuned['metrics']['rmse']:.2f}, baseline (training mean "
          f"{evaluation.baseline['value']:.2f}) {baseline['metrics']['rmse']:.2f}; base parse rate "
          f"{base['parse_rate']:.0%} ({base['parsed']}/{base['answered']})")
    assert fine_tuned["metrics"]["rmse"] < baseline["metrics"]["rmse"]
    assert fine_tuned["parse_rate"] == 1.0
    assert base["parse_rate"] == 0.0 and base["metrics"]["rmse"] is None, "no number is never counted as $0"
    assert base["unparsed"] == list(range(30))
    items = _items(world, evaluation_id)
    assert len(items) == 90 and all(i.status == "done" for i in items), "every item stored"
    assert evaluation.completed_items == evaluation.total_items == 90
    assert evaluation.actual_cost_usd > 0 and evaluation.prompt_tokens > 0
    with world.sessions() as session:
        recomputed, _ = compute_results(session, session.get(Evaluation, evaluation_id))  # type: ignore[arg-type]
    assert recomputed == results, "the report equals a recomputation from the stored items"
    ft_items = sorted((i for i in items if i.target_key == "fine_tuned"), key=lambda i: i.example_index)
    errors = [parse_number(i.answer) - parse_number(i.truth) for i in ft_items]  # type: ignore[operator]
    assert math.isclose(fine_tuned["metrics"]["rmse"], math.sqrt(sum(e * e for e in errors) / len(errors)))


def test_label_task_reports_accuracy_macro_f1_and_a_confusion_matrix(world: World) -> None:
    rows = label_rows(90)
    job_id = _trained_job(world, rows[:60])
    test_set = _dataset(world, jsonl(rows[60:]), 30)
    evaluation_id = _evaluate(world, job_id, test_set, task="label", compare_with=["base"])

    _runner(world).run(evaluation_id)

    results = _evaluation(world, evaluation_id).results
    assert results is not None
    fine_tuned = results["fine_tuned"]["metrics"]
    assert fine_tuned["accuracy"] > 0.8, fine_tuned
    assert 0 < fine_tuned["macro_f1"] <= 1
    matrix = fine_tuned["confusion_matrix"]
    assert matrix["labels"] == ["billing", "bug", "feature"]
    assert sum(map(sum, matrix["matrix"])) == 30
    assert results["base"]["metrics"]["accuracy"] == 0.0 and results["base"]["parse_rate"] == 0.0
    assert results["base"]["metrics"]["confusion_matrix"]["predicted"][-1] == m.OTHER_LABEL
    assert results["baseline"]["metrics"]["accuracy"] == pytest.approx(1 / 3)


def test_failed_calls_mark_their_items_and_the_run_still_succeeds(world: World, pricer: tuple[str, str]) -> None:
    job_id, test_set = pricer
    evaluation_id = _evaluate(world, job_id, test_set, task="number", max_examples=10, concurrency=1)
    world.emulator.state.inject("/chat/completions", 500, count=4)  # two items, two attempts each

    _runner(world).run(evaluation_id)

    evaluation = _evaluation(world, evaluation_id)
    assert evaluation.status == "succeeded"
    failed = [i for i in _items(world, evaluation_id) if i.status == "failed"]
    assert len(failed) == 2 and all(i.error and i.error["status"] == 500 for i in failed)
    assert evaluation.results is not None
    assert evaluation.results["fine_tuned"]["failed"] == 2 and evaluation.results["fine_tuned"]["answered"] == 8


def test_a_resumed_run_never_asks_a_finished_item_again(world: World, pricer: tuple[str, str]) -> None:
    job_id, test_set = pricer
    evaluation_id = _evaluate(world, job_id, test_set, task="number", compare_with=["base"], concurrency=2)
    world.emulator.state.reset_calls()

    first = _runner(world, budget_seconds=0.0).run(evaluation_id)  # stops after its first answers
    asked_first = _chat_calls(world)
    done_first = sum(1 for i in _items(world, evaluation_id) if i.status == "done" and i.target_key != "baseline")
    second = _runner(world).run(evaluation_id)

    assert first.kind == "continue" and second.kind == "finished"
    assert 0 < done_first < 60
    assert _chat_calls(world) == 60, f"60 model items, asked {_chat_calls(world)} times ({asked_first} before)"
    assert _evaluation(world, evaluation_id).status == "succeeded"


def test_a_second_delivery_finds_the_lease_held_and_leaves(world: World, pricer: tuple[str, str]) -> None:
    job_id, test_set = pricer
    evaluation_id = _evaluate(world, job_id, test_set, task="number", max_examples=3)
    with world.sessions() as session:
        row = session.get(Evaluation, evaluation_id)
        assert row is not None
        row.status = EvaluationStatus.RUNNING
        row.lease_expires_at = utcnow() + dt.timedelta(seconds=60)
        session.commit()

    assert _runner(world).run(evaluation_id).kind == "busy"


def test_a_cancelled_evaluation_keeps_what_it_has(world: World, pricer: tuple[str, str]) -> None:
    job_id, test_set = pricer
    evaluation_id = _evaluate(world, job_id, test_set, task="number", concurrency=1)
    _runner(world, budget_seconds=0.0).run(evaluation_id)
    with world.sessions() as session:
        request_cancel(session, world.tenant_id, evaluation_id)
        session.commit()

    outcome = _runner(world).run(evaluation_id)

    evaluation = _evaluation(world, evaluation_id)
    assert outcome.kind == "finished" and evaluation.status == "cancelled"
    done = [i for i in _items(world, evaluation_id) if i.target_key == "fine_tuned" and i.status == "done"]
    assert done and evaluation.results is not None
    assert evaluation.results["fine_tuned"]["answered"] == len(done)
    assert evaluation.results["fine_tuned"]["pending"] == 30 - len(done)


def test_an_evaluation_over_checkpoints_names_the_best_one(world: World, pricer: tuple[str, str]) -> None:
    job_id, test_set = pricer
    with world.sessions() as session:
        checkpoints = session.scalars(select(Checkpoint).where(Checkpoint.job_id == job_id)).all()
    assert checkpoints, "the emulator makes a checkpoint per epoch"
    evaluation_id = _evaluate(world, job_id, test_set, task="number", models="checkpoints", max_examples=10,
                              rank_by="mae")

    _runner(world).run(evaluation_id)

    evaluation = _evaluation(world, evaluation_id)
    assert evaluation.results is not None and evaluation.best is not None
    candidates = {k: r["metrics"]["mae"] for k, r in evaluation.results.items() if r["kind"] in
                  ("fine_tuned", "checkpoint")}
    assert set(candidates) == {"fine_tuned", *(c.id for c in checkpoints)}
    assert evaluation.best["metric"] == "mae" and evaluation.best["value"] == min(candidates.values())
    assert evaluation.best["key"] in candidates


def test_a_job_continued_from_a_fine_tuned_model_trains_at_the_provider(
        world: World, pricer: tuple[str, str]) -> None:
    job_id, _ = pricer
    with world.sessions() as session:
        first = session.get(Job, job_id)
        assert first is not None and first.fine_tuned_model
        model = first.fine_tuned_model
    second = world.job(_dataset(world, jsonl(pricer_rows(30, seed=8)), 30), model=model, suffix="more")
    world.pipeline.advance(second)

    def finished() -> Job | None:
        world.syncer.poll()
        with world.sessions() as session:
            job = session.get(Job, second)
            return job if job is not None and job.status in ("succeeded", "failed") else None

    job: Job = wait_for(finished, timeout=60, interval=0.1, what="the continued job to finish")
    assert job.status == "succeeded", job.error
    assert job.model == model and job.fine_tuned_model and job.fine_tuned_model != model
