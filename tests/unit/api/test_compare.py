"""``GET /v1/jobs/compare``: runs side by side, from our own rows, behind the tenant wall."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.evaluation.states import EvaluationStatus
from core.models import Evaluation, Job, JobMetric
from tests.fixtures.evaluation import succeeded_job


def _curve(session: Session, job_id: str, tenant_id: str, valid: list[float]) -> None:
    for step, value in enumerate(valid, start=1):
        session.add(JobMetric(job_id=job_id, tenant_id=tenant_id, step=step, train_loss=2.0 / step, valid_loss=value))
    session.commit()


def test_compare_shows_hyperparameters_cost_losses_and_the_latest_evaluation(
        auth_client: TestClient, db_session: Session) -> None:
    first = succeeded_job(auth_client, db_session, suffix="a")
    second = succeeded_job(auth_client, db_session, suffix="b")
    job = db_session.get(Job, first.job_id)
    assert job is not None
    job.trained_tokens, job.resolved_hyperparameters = 1_000_000, {"n_epochs": 3}
    _curve(db_session, first.job_id, job.tenant_id, [1.5, 0.9, 1.1, 1.2])
    created = auth_client.post(f"/v1/jobs/{first.job_id}/evaluations",
                               json={"dataset_id": first.test_dataset_id, "task": "label"}).json()
    evaluation = db_session.get(Evaluation, created["id"])
    assert evaluation is not None
    evaluation.status, evaluation.results = EvaluationStatus.SUCCEEDED, {"fine_tuned": {"metrics": {"accuracy": 0.9},
                                                                        "parse_rate": 1.0}}
    db_session.commit()

    response = auth_client.get("/v1/jobs/compare", params={"ids": f"{first.job_id},{second.job_id}"})

    assert response.status_code == 200, response.text
    rows = {row["job_id"]: row for row in response.json()["data"]}
    assert list(rows) == [first.job_id, second.job_id]
    one = rows[first.job_id]
    assert one["model"] == "gpt-4o-mini-2024-07-18" and one["resolved_hyperparameters"] == {"n_epochs": 3}
    assert one["cost_usd"] == 3.0, "1M trained tokens at $3.00 per 1M"
    assert one["valid_loss"] == {"final": 1.2, "final_step": 4, "best": 0.9, "best_step": 2}
    assert one["train_loss"]["final"] == 0.5
    assert one["evaluation"]["id"] == created["id"]
    assert one["evaluation"]["results"]["fine_tuned"]["metrics"] == {"accuracy": 0.9}
    assert rows[second.job_id]["evaluation"] is None and rows[second.job_id]["valid_loss"]["best"] is None


def test_comparing_another_tenants_job_is_404(auth_client: TestClient, other_client: TestClient,
                                              db_session: Session) -> None:
    mine = succeeded_job(auth_client, db_session, suffix="m")
    theirs = succeeded_job(other_client, db_session, suffix="o")
    response = auth_client.get("/v1/jobs/compare", params={"ids": f"{mine.job_id},{theirs.job_id}"})
    assert response.status_code == 404 and theirs.job_id in response.json()["error"]["message"]
    too_many = ",".join([mine.job_id] * 21)
    assert auth_client.get("/v1/jobs/compare", params={"ids": too_many}).status_code == 200, "duplicates collapse"
