"""Hyperparameter sweeps: a grid run as ordinary jobs, at most ``max_parallel`` at once, under a budget.

The budget is checked against the estimated cost of the whole grid — training and, when asked,
each run's evaluation — before any job exists (over → 422 with the estimate). Runs are started by
:func:`advance`, which locks the sweep row, counts its non-terminal runs and creates jobs only up
to ``max_parallel``; it is deferred after the sweep is created, whenever one of its runs ends
(``core.jobs.transition``), and re-sent by the reconciler, so a lost nudge only delays a run.
A succeeded run gets its evaluation (``core.evaluation``) when the sweep asks for one. The ranking
is by final validation loss, or by an evaluation metric.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import dispatch, idempotency, webhooks
from core.catalog import ModelCatalog
from core.datasets.counting import TokenCounter
from core.errors import Conflict, DomainError, Unprocessable
from core.evaluation import metrics as m
from core.evaluation.examples import read_held_out
from core.evaluation.pricing import estimate as evaluation_estimate
from core.evaluation.service import EvaluationRequest, create_evaluation
from core.evaluation.states import TERMINAL as EVALUATION_TERMINAL
from core.evaluation.targets import Target, family_of
from core.jobs import HYPERPARAMETER_NAMES, JobRequest, check_request, create_job, request_cancel
from core.models import Dataset, Evaluation, Job, JobMetric, Sweep, utcnow
from core.scoping import get_owned, owned
from core.states import SWEEP_TERMINAL, TERMINAL, JobStatus, SweepStatus
from core.storage import BlobStore
from core.tasknames import TaskName

log = logging.getLogger(__name__)

MAX_POINTS = 100


def grid_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    unknown = sorted(set(grid) - set(HYPERPARAMETER_NAMES))
    if unknown or not grid:
        raise Unprocessable(f"grid keys must be among {list(HYPERPARAMETER_NAMES)}" +
                            (f"; unknown: {unknown}" if unknown else ""), details={"param": "grid"})
    if any(not isinstance(values, list) or not values for values in grid.values()):
        raise Unprocessable("each grid entry needs a non-empty list of values", details={"param": "grid"})
    names = sorted(grid)
    points = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(grid[n] for n in names))]
    if len(points) > MAX_POINTS:
        raise Unprocessable(f"the grid has {len(points)} points; at most {MAX_POINTS}", details={"param": "grid"})
    return points


def _training_cost(dataset: Dataset, point: dict[str, Any], price: float | None) -> float | None:
    report = dataset.report or {}
    billed, epochs = report.get("billed_tokens"), point.get("n_epochs", "auto")
    if not isinstance(epochs, int):
        epochs = report.get("n_epochs")
    if price is None or not isinstance(billed, int) or not isinstance(epochs, int):
        return None
    return billed * epochs * price / 1_000_000


def estimate_grid(session: Session, tenant_id: str, job: dict[str, Any], points: list[dict[str, Any]],
                  evaluation: dict[str, Any] | None, *, catalog: ModelCatalog, store: BlobStore,
                  provider: str) -> dict[str, Any]:
    model = str(job["model"])
    family = family_of(session, tenant_id, model) if model.startswith("ft:") else model
    entry = catalog.find(family, provider)
    training = get_owned(session, Dataset, tenant_id, str(job["training_dataset_id"]))
    per_run = [_training_cost(training, p, entry.price_per_million_usd if entry else None) for p in points]
    eval_cost = 0.0
    if evaluation is not None and entry is not None:
        held_out = get_owned(session, Dataset, tenant_id, str(evaluation["dataset_id"]))
        if held_out.canonical_sha256 is None:
            raise Unprocessable(f"dataset {held_out.id} cannot be evaluated on", details={"param": "evaluation"})
        examples = read_held_out(store.path_for(held_out.canonical_sha256), dataset_id=held_out.id,
                                 limit=evaluation.get("max_examples"))
        ft_in, ft_out = entry.inference_prices(fine_tuned=True)
        base_in, base_out = entry.inference_prices(fine_tuned=False)
        targets = [Target("fine_tuned", "fine_tuned", None, family, input_price=ft_in, output_price=ft_out)]
        if "base" in (evaluation.get("compare_with") or []):
            targets.append(Target("base", "base", family, family, input_price=base_in, output_price=base_out))
        eval_cost = evaluation_estimate(examples, targets, TokenCounter(entry.encoding))["total_usd"]
    unknown = [i for i, cost in enumerate(per_run) if cost is None]
    total = sum(c or 0.0 for c in per_run) + eval_cost * len(points)
    return {"total_usd": round(total, 6), "training_usd_per_run": [round(c, 6) if c is not None else None
                                                                   for c in per_run],
            "evaluation_usd_per_run": round(eval_cost, 6), "runs": len(points), "unpriced_runs": unknown}


def create_sweep(session: Session, tenant_id: str, *, job: dict[str, Any], grid: dict[str, list[Any]],
                 evaluation: dict[str, Any] | None, max_parallel: int, budget_usd: float | None,
                 rank_by: str | None, catalog: ModelCatalog, store: BlobStore, provider: str,
                 idempotency_key: str | None = None) -> Sweep:
    """Check every run and the whole grid's cost, then store the sweep; its runs start from ``advance``.

    A repeat with the same ``Idempotency-Key`` gets the first sweep back: a second one would train
    (and pay for) the whole grid again.
    """
    request_hash = idempotency.fingerprint({"job": job, "grid": grid, "evaluation": evaluation,
                                            "max_parallel": max_parallel, "budget_usd": budget_usd,
                                            "rank_by": rank_by, "provider": provider})
    earlier = idempotency.replayed(session, Sweep, tenant_id, idempotency_key, request_hash, what="sweep request")
    if earlier is not None:
        return earlier
    points = grid_points(grid)
    clash = sorted(set(grid) & set(job.get("hyperparameters") or {}))
    if clash:
        raise Unprocessable(f"{clash} are both in the job's hyperparameters and in the grid", details={"param": "grid"})
    if evaluation is not None:
        task = evaluation.get("task")
        if task not in m.TASKS:
            raise Unprocessable(f"evaluation.task must be one of {list(m.TASKS)}", details={"param": "evaluation"})
    ranked_by = rank_by or "valid_loss"
    if ranked_by != "valid_loss" and (evaluation is None or ranked_by not in m.METRICS[evaluation["task"]]):
        raise Unprocessable(f"rank_by {ranked_by!r} is neither 'valid_loss' nor a metric of the sweep's evaluation",
                            details={"param": "rank_by"})
    for point in points:  # every run must be a job the service would accept, before any exists
        check_request(session, tenant_id, _run_request(job, point, provider), catalog=catalog, enforce_cutoff=False)
    money = estimate_grid(session, tenant_id, job, points, evaluation, catalog=catalog, store=store,
                          provider=provider)
    if budget_usd is not None and money["total_usd"] > budget_usd:
        raise Unprocessable(f"the sweep is estimated at ${money['total_usd']:.4f}, over its budget "
                            f"${budget_usd:.4f}", details={"param": "budget_usd", "estimate": money})
    sweep = Sweep(tenant_id=tenant_id, status=SweepStatus.RUNNING, max_parallel=max_parallel, budget_usd=budget_usd,
                  estimated_cost_usd=money["total_usd"],
                  points=[{"hyperparameters": p, "job_id": None} for p in points],
                  spec={"job": job, "grid": grid, "evaluation": evaluation, "rank_by": ranked_by, "estimate": money,
                        "provider": provider},
                  idempotency_key=idempotency_key, request_hash=request_hash)
    sweep, created = idempotency.insert_once(session, sweep, key=idempotency_key, fingerprint=request_hash,
                                             what="sweep request")
    if not created:
        return sweep
    _announce(session, sweep, previous=None)
    dispatch.defer(session, TaskName.ADVANCE_SWEEP, sweep_id=sweep.id)
    return sweep


def _run_request(job: dict[str, Any], point: dict[str, Any], provider: str) -> JobRequest:
    base = dict(job)
    hyperparameters = {**(base.pop("hyperparameters", None) or {}), **point}
    return JobRequest(**base, hyperparameters=hyperparameters, provider=provider)


def _announce(session: Session, sweep: Sweep, *, previous: SweepStatus | None) -> None:
    webhooks.announce(session, sweep.tenant_id, f"sweep.{sweep.status.value}", {
        "sweep_id": sweep.id, "status": sweep.status.value,
        "previous_status": previous.value if previous else None,
        "at": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"), "runs": len(sweep.points)})


def _end(session: Session, sweep: Sweep, status: SweepStatus) -> None:
    previous, sweep.status, sweep.finished_at = sweep.status, status, utcnow()
    session.flush()
    _announce(session, sweep, previous=previous)


def _latest_evaluation(session: Session, job_id: str) -> Evaluation | None:
    return session.scalars(select(Evaluation).where(Evaluation.job_id == job_id)
                           .order_by(Evaluation.id.desc()).limit(1)).first()


def advance(session: Session, sweep_id: str, *, catalog: ModelCatalog, store: BlobStore) -> str:
    """Start runs up to ``max_parallel``, evaluate finished ones, end the sweep when all are done."""
    sweep = session.scalars(select(Sweep).where(Sweep.id == sweep_id).with_for_update()).first()
    if sweep is None:
        return "missing"
    if sweep.status in SWEEP_TERMINAL:
        return sweep.status
    spec, points = sweep.spec, [dict(p) for p in sweep.points]
    jobs = {j.id: j for j in session.scalars(select(Job).where(Job.sweep_id == sweep.id))}
    active = sum(1 for j in jobs.values() if JobStatus(j.status) not in TERMINAL)
    evaluation_spec = spec.get("evaluation")
    waiting = 0
    for job in jobs.values():
        if evaluation_spec is None or job.status != JobStatus.SUCCEEDED.value:
            continue
        latest = _latest_evaluation(session, job.id)
        if latest is None:
            request = EvaluationRequest(**evaluation_spec)
            try:
                create_evaluation(session, sweep.tenant_id, job.id, request, catalog=catalog, store=store)
            except DomainError as exc:  # e.g. the held-out set changed: end the sweep, clearly
                sweep.spec = {**spec, "error": {"message": exc.message, "details": exc.details}}
                _end(session, sweep, SweepStatus.FAILED)
                return sweep.status
            waiting += 1
        elif latest.status not in EVALUATION_TERMINAL:
            waiting += 1
    for point in points:
        if active >= sweep.max_parallel:
            break
        if point["job_id"] is not None:
            continue
        job_request = _run_request(spec["job"], point["hyperparameters"], spec.get("provider") or "openai")
        try:
            job, _ = create_job(session, sweep.tenant_id, job_request, catalog=catalog, enforce_cutoff=False)
        except DomainError as exc:  # the data changed since the sweep was accepted: end it, clearly
            sweep.spec = {**spec, "error": {"message": exc.message, "details": exc.details}}
            sweep.points = points
            _end(session, sweep, SweepStatus.FAILED)
            return sweep.status
        job.sweep_id = sweep.id
        point["job_id"] = job.id
        jobs[job.id] = job
        active += 1
    sweep.points = points
    if active == 0 and waiting == 0 and all(p["job_id"] for p in points):
        _end(session, sweep, SweepStatus.SUCCEEDED if any(j.status == JobStatus.SUCCEEDED for j in jobs.values())
             else SweepStatus.FAILED)
    session.flush()
    return sweep.status


def request_cancel_sweep(session: Session, tenant_id: str, sweep_id: str) -> Sweep:
    sweep = get_owned(session, Sweep, tenant_id, sweep_id, for_update=True)
    if sweep.status in SWEEP_TERMINAL:
        raise Conflict(f"sweep {sweep_id} is already {sweep.status.value}", details={"status": sweep.status.value})
    for job in session.scalars(owned(Job, tenant_id).where(Job.sweep_id == sweep.id)):
        if JobStatus(job.status) not in TERMINAL and job.status != JobStatus.CANCELLING.value:
            request_cancel(session, tenant_id, job.id)
    _end(session, sweep, SweepStatus.CANCELLED)
    return sweep


def _final_valid_loss(session: Session, job_id: str) -> float | None:
    row = session.execute(select(JobMetric.full_valid_loss, JobMetric.valid_loss).where(
        JobMetric.job_id == job_id, JobMetric.valid_loss.is_not(None)).order_by(JobMetric.step.desc()).limit(1)).first()
    if row is None:
        return None
    return row[0] if row[0] is not None else row[1]


def ranking(session: Session, sweep: Sweep) -> list[dict[str, Any]]:
    """Every run with its metric, best first (runs without a value last, in grid order)."""
    metric = sweep.spec.get("rank_by") or "valid_loss"
    jobs = {j.id: j for j in session.scalars(select(Job).where(Job.sweep_id == sweep.id))}
    runs = []
    for index, point in enumerate(sweep.points):
        job = jobs.get(point["job_id"]) if point["job_id"] else None
        value: float | None = None
        evaluation_id = None
        if job is not None and metric == "valid_loss":
            value = _final_valid_loss(session, job.id)
        elif job is not None:
            latest = _latest_evaluation(session, job.id)
            if latest is not None and latest.results:
                evaluation_id = latest.id
                value = latest.results.get("fine_tuned", {}).get("metrics", {}).get(metric)
        runs.append({"index": index, "hyperparameters": point["hyperparameters"], "job_id": point["job_id"],
                     "status": job.status if job else "not_started", "fine_tuned_model": job.fine_tuned_model
                     if job else None, "evaluation_id": evaluation_id, "metric": metric, "value": value})
    lower = metric == "valid_loss" or metric in m.LOWER_IS_BETTER
    scored = sorted((r for r in runs if r["value"] is not None), key=lambda r: r["value"] if lower else -r["value"])
    for rank, run in enumerate(scored, start=1):
        run["rank"] = rank
    return scored + [dict(r, rank=None) for r in runs if r["value"] is None]


def active_sweep_ids(session: Session, limit: int = 200) -> list[str]:
    return list(session.scalars(select(Sweep.id).where(Sweep.status == SweepStatus.RUNNING)
                                .order_by(Sweep.id).limit(limit)))
