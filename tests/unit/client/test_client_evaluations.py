"""``evaluate`` / ``get_evaluation`` / ``compare`` on both clients: the same endpoints the API tests
cover, seen through the client's typed results (a path is uploaded first, like a training file)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.evaluation.states import EvaluationStatus
from core.models import Evaluation, Job, JobMetric
from finetuner import AsyncFineTuner, FineTuner
from finetuner.client.errors import NotFound
from finetuner.client.models import ComparedJob
from finetuner.client.models import Evaluation as EvaluationResult
from tests.fixtures.api import TenantKey
from tests.fixtures.evaluation import jsonl, label_rows, succeeded_job


@pytest.fixture
def ft(auth_client: TestClient, tenant: TenantKey) -> FineTuner:
    return FineTuner(api_key=tenant.key, http_client=cast(httpx.Client, auth_client))


def test_evaluate_uploads_a_path_and_returns_the_queued_evaluation_typed(
        ft: FineTuner, auth_client: TestClient, db_session: Session, tmp_path: Path) -> None:
    trained = succeeded_job(auth_client, db_session)
    held_out = tmp_path / "test.jsonl"
    held_out.write_bytes(jsonl(label_rows(12, seed=99)))

    evaluation = ft.evaluate(trained.job_id, held_out, task="label", compare_with=["base", trained.checkpoint_id])

    assert isinstance(evaluation, EvaluationResult)
    assert evaluation.status == "queued" and evaluation.id.startswith("eval_") and not evaluation.done
    assert evaluation.job_id == trained.job_id and evaluation.task == "label"
    assert [t["key"] for t in evaluation.targets] == ["fine_tuned", "base", trained.checkpoint_id, "baseline"]
    assert ft.get_dataset(evaluation.dataset_id).name == "test.jsonl", "the path was uploaded as the held-out set"
    assert evaluation.estimated_cost_usd is not None and evaluation.estimated_cost_usd > 0
    again = ft.get_evaluation(evaluation.id)
    assert again.id == evaluation.id and again.progress == evaluation.progress


def test_compare_returns_typed_rows_in_the_order_given(ft: FineTuner, auth_client: TestClient,
                                                       db_session: Session) -> None:
    first = succeeded_job(auth_client, db_session, suffix="a")
    second = succeeded_job(auth_client, db_session, suffix="b")
    job = db_session.get(Job, first.job_id)
    assert job is not None
    for step, value in enumerate([1.5, 0.9, 1.1], start=1):
        db_session.add(JobMetric(job_id=job.id, tenant_id=job.tenant_id, step=step, train_loss=2.0 / step,
                                 valid_loss=value))
    db_session.commit()

    rows = ft.compare(second.job_id, first.job_id)

    assert [type(r) for r in rows] == [ComparedJob, ComparedJob]
    assert [r.job_id for r in rows] == [second.job_id, first.job_id]
    one = rows[1]
    assert one.status == "succeeded" and one.fine_tuned_model == first.fine_tuned_model
    assert (one.valid_loss.final, one.valid_loss.best, one.valid_loss.best_step) == (1.1, 0.9, 2)
    assert rows[0].valid_loss.best is None and rows[0].evaluation is None
    with pytest.raises(NotFound):
        ft.compare(first.job_id, "job_does_not_exist")


def test_the_async_client_evaluates_and_compares_too(api_app: FastAPI, auth_client: TestClient,
                                                     db_session: Session, tenant: TenantKey) -> None:
    trained = succeeded_job(auth_client, db_session)

    async def scenario() -> tuple[EvaluationResult, EvaluationResult, list[ComparedJob]]:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=api_app), base_url="http://testserver")
        async with AsyncFineTuner(api_key=tenant.key, http_client=http) as ft:
            created = await ft.evaluate(trained.job_id, trained.test_dataset_id, task="label")
            row = db_session.get(Evaluation, created.id)
            assert row is not None
            row.status, row.results = EvaluationStatus.SUCCEEDED, {"fine_tuned": {"metrics": {"accuracy": 0.75},
                                                                                  "parse_rate": 1.0}}
            db_session.commit()
            return created, await ft.get_evaluation(created.id), await ft.compare(trained.job_id)

    created, finished, rows = asyncio.run(scenario())
    assert created.status == "queued" and created.dataset_id == trained.test_dataset_id
    assert finished.status == "succeeded" and finished.done
    assert finished.results is not None and finished.results["fine_tuned"]["metrics"] == {"accuracy": 0.75}
    assert rows[0].job_id == trained.job_id and rows[0].evaluation is not None
    assert rows[0].evaluation["id"] == created.id
