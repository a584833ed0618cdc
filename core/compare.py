"""Runs side by side: what each job was, what it cost, how its curves went, how it scored.

Everything is read from our rows (no provider call): the job, its transitions (duration), its
loss points (final and best, with the step of the best) and its newest finished evaluation.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.catalog import ModelCatalog
from core.errors import BadRequest
from core.evaluation.service import summary
from core.evaluation.states import EvaluationStatus
from core.evaluation.targets import family_of
from core.models import Evaluation, Job, JobMetric, JobTransition
from core.scoping import get_owned, owned

MAX_COMPARED = 20


def _curve(session: Session, job_id: str, column: Any) -> dict[str, Any]:
    rows = session.execute(select(JobMetric.step, column).where(JobMetric.job_id == job_id, column.is_not(None))
                           .order_by(JobMetric.step)).all()
    if not rows:
        return {"final": None, "final_step": None, "best": None, "best_step": None}
    best = min(rows, key=lambda r: (r[1], r[0]))
    return {"final": rows[-1][1], "final_step": rows[-1][0], "best": best[1], "best_step": best[0]}


def _duration_seconds(session: Session, job: Job) -> float | None:
    """From the first time the provider ran it to the end (queue time left out), else creation to end."""
    if job.finished_at is None:
        return None
    started = session.scalar(select(JobTransition.at).where(JobTransition.job_id == job.id,
                                                            JobTransition.to_status == "running")
                             .order_by(JobTransition.id).limit(1))
    return round((job.finished_at - (started or job.created_at)).total_seconds(), 3)


def _latest_evaluation(session: Session, job: Job) -> dict[str, Any] | None:
    evaluation = session.scalars(owned(Evaluation, job.tenant_id).where(
        Evaluation.job_id == job.id, Evaluation.status == EvaluationStatus.SUCCEEDED)
        .order_by(Evaluation.id.desc()).limit(1)).first()
    if evaluation is None:
        return None
    return {"id": evaluation.id, "task": evaluation.task, "dataset_id": evaluation.dataset_id,
            "results": summary(evaluation.results), "best": evaluation.best}


def _cost(session: Session, job: Job, catalog: ModelCatalog) -> float | None:
    """Billed training cost from the trained tokens when known, else the estimate made at creation."""
    if job.trained_tokens is None:
        return job.estimated_cost_usd
    price = catalog.price_for(family_of(session, job.tenant_id, job.model), job.provider)
    return round(job.trained_tokens * price / 1_000_000, 6) if price is not None else job.estimated_cost_usd


def compare(session: Session, tenant_id: str, job_ids: list[str], *, catalog: ModelCatalog) -> list[dict[str, Any]]:
    job_ids = list(dict.fromkeys(job_ids))
    if not job_ids:
        raise BadRequest("ids must name at least one job", details={"param": "ids"})
    if len(job_ids) > MAX_COMPARED:
        raise BadRequest(f"compare at most {MAX_COMPARED} jobs at once", details={"param": "ids"})
    rows = []
    for job_id in job_ids:
        job = get_owned(session, Job, tenant_id, job_id)
        rows.append({
            "job_id": job.id, "status": job.status, "model": job.model, "fine_tuned_model": job.fine_tuned_model,
            "hyperparameters": job.hyperparameters, "resolved_hyperparameters": job.resolved_hyperparameters,
            "trained_tokens": job.trained_tokens, "cost_usd": _cost(session, job, catalog),
            "estimated_cost_usd": job.estimated_cost_usd, "duration_seconds": _duration_seconds(session, job),
            "train_loss": _curve(session, job.id, JobMetric.train_loss),
            "valid_loss": _curve(session, job.id, JobMetric.valid_loss),
            "overfitting_step": job.overfitting_step, "evaluation": _latest_evaluation(session, job),
        })
    return rows
