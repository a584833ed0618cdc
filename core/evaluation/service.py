"""Evaluations: create (checked, estimated, every item stored), read, cancel, and the one function
that moves an evaluation's status (announcing it through the outbox in the same transaction).

Functions here never commit: the route or the task owns the unit of work; the run task is
deferred until after the commit (``core.dispatch``).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import dispatch, idempotency, webhooks
from core.catalog import ModelCatalog
from core.datasets.counting import TokenCounter
from core.errors import Conflict, Unprocessable
from core.evaluation import metrics as m
from core.evaluation.baseline import compute_baseline
from core.evaluation.examples import read_held_out, training_replies
from core.evaluation.pricing import estimate
from core.evaluation.states import TERMINAL, EvaluationStatus, is_allowed
from core.evaluation.targets import BASELINE_KEY, Target, resolve_targets, through_endpoints
from core.models import Dataset, Evaluation, EvaluationItem, Job, utcnow
from core.scoping import get_owned, owned, page
from core.storage import BlobStore
from core.tasknames import TaskName

log = logging.getLogger(__name__)

DEFAULT_RANK_BY: dict[m.Task, str] = {"number": "rmse", "label": "accuracy", "text": "token_f1",
                                      "json": "field_match"}


class InvalidEvaluationTransition(Conflict):
    """A move the evaluation state table forbids."""


@dataclass
class EvaluationRequest:
    """What a client asked for, parsed at the edge."""

    dataset_id: str
    task: m.Task
    metrics: list[str] | None = None
    compare_with: list[str] = field(default_factory=list)
    models: str | None = None  # "checkpoints": also every checkpoint of the job
    rank_by: str | None = None
    max_examples: int | None = None
    concurrency: int = 4
    temperature: float = 0.0
    seed: int | None = None
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    within_pct: float = m.DEFAULT_WITHIN_PCT
    endpoint: str | None = None  # what serves the job's model when its provider needs one deployed


def _at(value: Any) -> str:
    return str(value.strftime("%Y-%m-%dT%H:%M:%SZ"))


def transition(session: Session, evaluation: Evaluation, target: EvaluationStatus, *, reason: str) -> None:
    current = EvaluationStatus(evaluation.status)
    if not is_allowed(current, target):
        raise InvalidEvaluationTransition(f"evaluation {evaluation.id} cannot move from {current.value} to "
                                          f"{target.value}", details={"from": current.value, "to": target.value})
    now = utcnow()
    evaluation.status = target
    if target == EvaluationStatus.RUNNING and evaluation.started_at is None:
        evaluation.started_at = now
    if target in TERMINAL:
        evaluation.finished_at = now
        evaluation.lease_expires_at = None
    session.flush()
    announce(session, evaluation, previous=current.value, reason=reason)
    log.info("evaluation %s: %s -> %s (%s)", evaluation.id, current.value, target.value, reason)


def announce(session: Session, evaluation: Evaluation, *, previous: str | None, reason: str) -> None:
    webhooks.announce(session, evaluation.tenant_id, f"evaluation.{evaluation.status}", {
        "evaluation_id": evaluation.id, "job_id": evaluation.job_id, "status": evaluation.status,
        "previous_status": previous, "reason": reason, "at": _at(utcnow()),
        "completed_items": evaluation.completed_items, "total_items": evaluation.total_items,
        "results": summary(evaluation.results), "best": evaluation.best, "error": evaluation.error,
    })


def summary(results: dict[str, Any] | None) -> dict[str, Any] | None:
    """Metrics and parse rate per model: the part of the results a webhook carries."""
    if results is None:
        return None
    return {key: {"metrics": r["metrics"], "parse_rate": r["parse_rate"]} for key, r in results.items()}


def _check_metrics(task: m.Task, wanted: list[str] | None, rank_by: str | None) -> None:
    known = m.METRICS[task]
    unknown = sorted(set(wanted or []) - set(known))
    if unknown:
        raise Unprocessable(f"metric(s) {unknown} do not apply to task {task!r}; choose from {list(known)}",
                            details={"param": "metrics"})
    if rank_by is not None and (rank_by not in known or rank_by == "confusion_matrix"):
        raise Unprocessable(f"rank_by {rank_by!r} is not a metric of task {task!r}", details={"param": "rank_by"})


def _canonical_path(store: BlobStore, dataset: Dataset, param: str) -> Any:
    if dataset.status != "valid" or dataset.canonical_sha256 is None:
        raise Unprocessable(f"dataset {dataset.id} is {dataset.status} and cannot be evaluated on",
                            details={"param": param})
    if dataset.format == "preference":
        raise Unprocessable(f"dataset {dataset.id} has format {dataset.format!r}; an evaluation needs chat "
                            f"examples whose last assistant message is the truth", details={"param": param})
    return store.path_for(dataset.canonical_sha256)


def create_evaluation(session: Session, tenant_id: str, job_id: str, request: EvaluationRequest, *,
                      catalog: ModelCatalog, store: BlobStore, idempotency_key: str | None = None) -> Evaluation:
    """Check everything, estimate the money, store the evaluation and every item; defer the run.

    A repeat with the same ``Idempotency-Key`` (a client retrying a lost answer) gets the first
    evaluation back instead of paying for every model call twice.
    """
    job = get_owned(session, Job, tenant_id, job_id)
    request_hash = idempotency.fingerprint({"job_id": job.id, **asdict(request)})
    earlier = idempotency.replayed(session, Evaluation, tenant_id, idempotency_key, request_hash,
                                   what="evaluation request")
    if earlier is not None:
        return earlier
    _check_metrics(request.task, request.metrics, request.rank_by)
    if request.models not in (None, "checkpoints"):
        raise Unprocessable("models must be 'checkpoints' (or left out)", details={"param": "models"})
    targets = resolve_targets(session, tenant_id, job, request.compare_with, catalog=catalog,
                              with_checkpoints=request.models == "checkpoints")
    targets = through_endpoints(session, targets, catalog=catalog, endpoint=request.endpoint)
    held_out_set = get_owned(session, Dataset, tenant_id, request.dataset_id)
    if held_out_set.id == job.training_dataset_id:
        raise Unprocessable(f"dataset {held_out_set.id} is the job's training data; evaluate on held-out "
                            f"examples (split train/validation/test first)", details={"param": "dataset_id"})
    examples = read_held_out(_canonical_path(store, held_out_set, "dataset_id"), dataset_id=held_out_set.id,
                             limit=request.max_examples)
    if not examples:
        raise Unprocessable(f"dataset {held_out_set.id} has no examples to evaluate on",
                            details={"param": "dataset_id"})
    training = get_owned(session, Dataset, tenant_id, job.training_dataset_id)
    replies = training_replies(_canonical_path(store, training, "training_dataset_id"))
    baseline = compute_baseline(request.task, replies)
    labels = sorted(m.known_labels([e.truth for e in examples], replies)) if request.task == "label" else []
    counter = TokenCounter(catalog.encoding_for(targets[0].family, job.provider))
    money = estimate(examples, targets, counter, max_tokens=request.max_tokens)
    if request.max_cost_usd is not None and money["total_usd"] > request.max_cost_usd:
        raise Unprocessable(f"the evaluation is estimated at ${money['total_usd']:.4f}, over max_cost_usd "
                            f"${request.max_cost_usd:.4f}", details={"param": "max_cost_usd", "estimate": money})
    spec = {"metrics": request.metrics, "compare_with": request.compare_with, "models": request.models,
            "rank_by": request.rank_by or DEFAULT_RANK_BY[request.task], "max_examples": request.max_examples,
            "concurrency": request.concurrency, "temperature": request.temperature, "seed": request.seed,
            "max_tokens": request.max_tokens, "max_cost_usd": request.max_cost_usd, "within_pct": request.within_pct,
            "labels": labels, "estimate": money, "provider": job.provider,
            "endpoint": request.endpoint}
    evaluation = Evaluation(
        tenant_id=tenant_id, job_id=job.id, dataset_id=held_out_set.id, task=request.task,
        status=EvaluationStatus.QUEUED.value, spec=spec, targets=[t.as_dict() for t in targets], baseline=baseline,
        total_items=len(examples) * len(targets), estimated_cost_usd=money["total_usd"],
        idempotency_key=idempotency_key, request_hash=request_hash,
    )
    evaluation, created = idempotency.insert_once(session, evaluation, key=idempotency_key,
                                                  fingerprint=request_hash, what="evaluation request")
    if not created:
        return evaluation
    now = utcnow()
    done = 0
    for target in targets:
        for example in examples:
            item = EvaluationItem(evaluation_id=evaluation.id, tenant_id=tenant_id, example_index=example.index,
                                  target_key=target.key, input=example.messages, truth=example.truth)
            if not target.asks_model:
                scored = m.score_answer(request.task, example.truth, baseline["answer"], labels=frozenset(labels))
                item.status, item.answer = "done", baseline["answer"]
                item.parsed, item.score = scored.parsed, scored.score
                item.prompt_tokens, item.completion_tokens, item.cost_usd, item.finished_at = 0, 0, 0.0, now
                done += 1
            session.add(item)
    evaluation.completed_items = done
    session.flush()
    announce(session, evaluation, previous=None, reason="created")
    dispatch.defer(session, TaskName.RUN_EVALUATION, evaluation_id=evaluation.id)
    return evaluation


def get_evaluation(session: Session, tenant_id: str, evaluation_id: str) -> Evaluation:
    return get_owned(session, Evaluation, tenant_id, evaluation_id)


def list_for_job(session: Session, tenant_id: str, job_id: str, *, limit: int, after: str | None
                 ) -> tuple[list[Evaluation], bool]:
    get_owned(session, Job, tenant_id, job_id)
    return page(session, owned(Evaluation, tenant_id).where(Evaluation.job_id == job_id), Evaluation.id,
                limit=limit, after=after, newest_first=True)


def list_items(session: Session, tenant_id: str, evaluation_id: str, *, limit: int, after: int | None
               ) -> tuple[list[tuple[int, list[EvaluationItem]]], bool]:
    """Examples in index order, each with every target's item; ``after`` is the last example index."""
    get_evaluation(session, tenant_id, evaluation_id)
    query = select(EvaluationItem.example_index).where(
        EvaluationItem.evaluation_id == evaluation_id, EvaluationItem.tenant_id == tenant_id)
    if after is not None:
        query = query.where(EvaluationItem.example_index > after)
    indexes = list(session.scalars(query.distinct().order_by(EvaluationItem.example_index).limit(limit + 1)))
    has_more = len(indexes) > limit
    indexes = indexes[:limit]
    rows = session.scalars(owned(EvaluationItem, tenant_id).where(
        EvaluationItem.evaluation_id == evaluation_id, EvaluationItem.example_index.in_(indexes))
        .order_by(EvaluationItem.example_index, EvaluationItem.id)).all()
    grouped: dict[int, list[EvaluationItem]] = defaultdict(list)
    for row in rows:
        grouped[row.example_index].append(row)
    return [(index, grouped[index]) for index in indexes], has_more


def compute_results(session: Session, evaluation: Evaluation) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Per-target metrics recomputed from the stored items, and the best fine-tuned model or checkpoint."""
    items = session.scalars(select(EvaluationItem).where(EvaluationItem.evaluation_id == evaluation.id)
                            .order_by(EvaluationItem.example_index)).all()
    by_target: dict[str, list[EvaluationItem]] = defaultdict(list)
    for item in items:
        by_target[item.target_key].append(item)
    spec = evaluation.spec
    task: m.Task = evaluation.task  # type: ignore[assignment]
    labels = frozenset(spec.get("labels") or [])
    results: dict[str, Any] = {}
    for target in evaluation.targets:
        rows = by_target.get(target["key"], [])
        views = [m.ItemView(r.example_index, r.truth, r.answer, failed=r.status == "failed")
                 for r in rows if r.status != "pending"]
        report = m.compute(task, views, within_pct=spec.get("within_pct", m.DEFAULT_WITHIN_PCT), labels=labels,
                           wanted=spec.get("metrics"))
        report.update({
            "model": target["model"], "kind": target["kind"], "pending": sum(1 for r in rows if r.status == "pending"),
            "prompt_tokens": sum(r.prompt_tokens or 0 for r in rows),
            "completion_tokens": sum(r.completion_tokens or 0 for r in rows),
            "cost_usd": round(sum(r.cost_usd or 0.0 for r in rows), 6),
        })
        results[target["key"]] = report
    return results, _best(evaluation, results)


def _best(evaluation: Evaluation, results: dict[str, Any]) -> dict[str, Any] | None:
    metric = evaluation.spec.get("rank_by") or DEFAULT_RANK_BY[evaluation.task]  # type: ignore[index]
    best: dict[str, Any] | None = None
    for target in evaluation.targets:
        if target["kind"] not in ("fine_tuned", "checkpoint"):
            continue
        value = results[target["key"]]["metrics"].get(metric)
        if value is None:
            continue
        if best is None or m.better(metric, value, best["value"]):
            best = {"key": target["key"], "model": target["model"], "checkpoint_id": target.get("checkpoint_id"),
                    "step": target.get("step"), "metric": metric, "value": value}
    return best


def finish(session: Session, evaluation: Evaluation, target: EvaluationStatus, *, reason: str,
           error: dict[str, Any] | None = None) -> None:
    """Recompute results from the items, then move to ``target`` (or, if already cancelled, just refresh)."""
    evaluation.results, evaluation.best = compute_results(session, evaluation)
    _refresh_totals(evaluation)
    if error is not None:
        evaluation.error = error
    if EvaluationStatus(evaluation.status) in TERMINAL:
        session.flush()
        return
    transition(session, evaluation, target, reason=reason)


def _refresh_totals(evaluation: Evaluation) -> None:
    results = evaluation.results or {}
    evaluation.prompt_tokens = sum(r["prompt_tokens"] for r in results.values())
    evaluation.completion_tokens = sum(r["completion_tokens"] for r in results.values())
    evaluation.actual_cost_usd = round(sum(r["cost_usd"] for r in results.values()), 6)
    evaluation.failed_items = sum(r["failed"] for r in results.values())
    evaluation.completed_items = sum(r["total"] for r in results.values())


def request_cancel(session: Session, tenant_id: str, evaluation_id: str) -> Evaluation:
    """Cancelled now; a running worker sees it at its next answer and stops. Items already answered stay."""
    evaluation = get_owned(session, Evaluation, tenant_id, evaluation_id, for_update=True)
    status = EvaluationStatus(evaluation.status)
    if status in TERMINAL:
        raise Conflict(f"evaluation {evaluation_id} is already {status.value}; it cannot be cancelled",
                       details={"status": status.value})
    finish(session, evaluation, EvaluationStatus.CANCELLED, reason="cancel requested")
    return evaluation


def target_of(evaluation: Evaluation, key: str) -> Target:
    for raw in evaluation.targets:
        if raw["key"] == key:
            return Target(**raw)
    raise KeyError(key)


__all__ = ["BASELINE_KEY", "EvaluationRequest", "create_evaluation", "finish", "get_evaluation",
           "list_items", "request_cancel", "transition"]
