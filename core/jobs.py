"""The job service: the only code that changes a job's status (DESIGN §2, §3).

Every move is checked against ``core.states.ALLOWED`` and recorded as a ``job_transitions`` row
in the same transaction as the new status. Functions here never commit: the route or the task
that calls them owns the unit of work. Follow-up work is deferred until after the commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import dispatch, idempotency, wandb_sync, webhooks
from core import hyperparameters as hyperparameter_rules
from core.catalog import CatalogError, ModelCatalog, ModelEntry
from core.claims import still_in
from core.datasets.service import first_errors
from core.errors import Conflict, NotFound, Unprocessable
from core.evaluation.targets import family_of
from core.models import Dataset, Job, JobTransition, utcnow
from core.scoping import get_owned, owned, page
from core.states import INITIAL, TERMINAL, DatasetStatus, JobStatus, is_allowed, next_status
from core.tasknames import TaskName

log = logging.getLogger(__name__)

Actor = Literal["api", "worker", "provider", "reconciler"]

TAG_KEY = "finetuner_job_id"  # our id in the provider job's metadata: how a crashed create is found again
MAX_USER_METADATA_PAIRS = 15  # OpenAI allows 16; one is our tag
HYPERPARAMETER_NAMES = hyperparameter_rules.OPENAI_NAMES
DPO_HYPERPARAMETER_NAMES = (*HYPERPARAMETER_NAMES, "beta")


class InvalidTransition(Conflict):
    """A move the state table forbids; raised, never silently applied."""


def transition(session: Session, job: Job, target: JobStatus, *, reason: str, actor: Actor,
               created: bool = False) -> JobTransition:
    """Move ``job`` to ``target`` (checked against the table), record the move, announce it.

    ``created=True`` writes a new job's first row (from nothing to ``pending``), so ``job.pending``
    is recorded and announced like every other status.
    """
    current = None if created else job.status
    if not is_allowed(current, target):
        raise InvalidTransition(
            f"job {job.id} cannot move from {current.value if current else 'nothing'} to {target.value}",
            details={"from": current.value if current else None, "to": target.value},
        )
    previous = current.value if current else None
    now = utcnow()
    row = JobTransition(
        job_id=job.id, tenant_id=job.tenant_id, from_status=current, to_status=target,
        reason=reason, actor=actor, at=now,
    )
    job.status = target
    job.status_changed_at = now
    if target in TERMINAL:
        job.finished_at = now
        # Whatever made it terminal (a poll, a cancel, an adoption, a webhook, the ceiling), the
        # history up to the provider's last event is still to be fetched: the poll settles this.
        job.final_sync_owed = job.provider_job_id is not None
        if not job.final_sync_owed:
            wandb_sync.defer_if_wanted(session, job)
        if job.sweep_id is not None:
            dispatch.defer(session, TaskName.ADVANCE_SWEEP, sweep_id=job.sweep_id)
    session.add(row)
    session.flush()
    webhooks.announce(session, job.tenant_id, f"job.{target.value}", {
        "job_id": job.id, "status": target.value, "previous_status": previous, "reason": reason,
        "actor": actor, "at": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "fine_tuned_model": job.fine_tuned_model,
        "error": job.error,
    })
    log.info("job %s: %s -> %s (%s: %s)", job.id, previous, target.value, actor, reason,
             extra={"job_id": job.id, "tenant_id": job.tenant_id})
    return row


def history_settled(session: Session, job: Job) -> None:
    """The job's history is stored up to the provider's final event; what waited for it may run now.

    W&B logging waits for this rather than the terminal transition, so its run holds the whole curve
    even when a cancel or an adoption made the job terminal before the last events were fetched.
    """
    job.final_sync_owed = False
    wandb_sync.defer_if_wanted(session, job)


def observe_provider_status(session: Session, job: Job, provider_status: str, *, reason: str, actor: Actor) -> bool:
    """Apply what the provider says if :func:`core.states.next_status` says it moves the job.

    A slow poll or an old webhook may report a state the job has already left; applying it would
    move the job backwards, so it is logged and dropped. Returns whether the status changed.
    """
    target = next_status(job.status, provider_status)
    if target is None:
        if provider_status != job.status:
            log.info("job %s: provider status %s changes nothing while %s", job.id, provider_status, job.status)
        return False
    transition(session, job, target, reason=reason, actor=actor)
    return True


@dataclass
class JobRequest:
    """What a client asked for, already parsed at the edge."""

    training_dataset_id: str
    model: str
    validation_dataset_id: str | None = None
    hyperparameters: dict[str, Any] | None = None
    method: dict[str, Any] | None = None
    suffix: str | None = None
    seed: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    wandb: dict[str, Any] | None = None
    provider: str = "openai"

    def fingerprint(self) -> str:
        """Stable hash of the request body: same key + same body = same job (idempotency)."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True, default=str).encode()).hexdigest()


def _normalised_method(request: JobRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    """OpenAI's ``method`` object, with top-level ``hyperparameters`` as the supervised short form."""
    method = dict(request.method or {"type": "supervised"})
    method_type = method.get("type", "supervised")
    if method_type not in ("supervised", "dpo"):
        raise Unprocessable(f"method.type must be 'supervised' or 'dpo', not {method_type!r}",
                            details={"param": "method.type"})
    inner = dict(method.get(method_type) or {})
    nested = dict(inner.get("hyperparameters") or {})
    if request.hyperparameters and nested and request.hyperparameters != nested:
        raise Unprocessable("give hyperparameters either at the top level or inside method, not both differently",
                            details={"param": "hyperparameters"})
    given = request.hyperparameters or nested
    hyperparameters, problems = hyperparameter_rules.normalise(request.provider, method_type, given)
    if problems:
        raise Unprocessable("; ".join(problems), details={"param": "hyperparameters", "provider": request.provider})
    inner["hyperparameters"] = hyperparameters
    return {"type": method_type, method_type: inner}, hyperparameters


def _usable_dataset(session: Session, tenant_id: str, dataset_id: str, role: str, method_type: str) -> Dataset:
    dataset = get_owned(session, Dataset, tenant_id, dataset_id)
    if dataset.status != DatasetStatus.VALID:
        listed, errors = first_errors(dataset)
        raise Unprocessable(
            f"{role} dataset {dataset_id} is invalid and cannot be used: {listed}",
            details={"param": f"{role}_dataset_id", "errors": errors},
        )
    is_preference = dataset.format == "preference"
    if (method_type == "dpo") != is_preference:
        wanted = "preference pairs" if method_type == "dpo" else "chat (or convertible) examples"
        raise Unprocessable(f"{role} dataset {dataset_id} has format {dataset.format!r}; method {method_type!r} "
                            f"needs {wanted}", details={"param": f"{role}_dataset_id"})
    return dataset


def _estimated_cost(dataset: Dataset, hyperparameters: dict[str, Any], price: float | None) -> float | None:
    report = dataset.report or {}
    billed = report.get("billed_tokens")
    epochs = hyperparameters.get("n_epochs")
    if not isinstance(epochs, int):
        epochs = report.get("n_epochs")
    if price is None or not isinstance(billed, int) or not isinstance(epochs, int):
        return None
    return round(billed * epochs * price / 1_000_000, 4)


def check_request(
    session: Session, tenant_id: str, request: JobRequest, *, catalog: ModelCatalog, enforce_cutoff: bool = True,
    today: dt.date | None = None,
) -> tuple[dict[str, Any], dict[str, Any], ModelEntry, Dataset]:
    """Every refusal a new job can meet (method, metadata, model, datasets), without creating it:
    a sweep checks its job spec with this before any run exists. Returns (method, hyperparameters,
    catalog entry, training dataset)."""
    method, hyperparameters = _normalised_method(request)
    method_type = method["type"]
    if len(request.metadata) > MAX_USER_METADATA_PAIRS:
        raise Unprocessable(f"metadata has {len(request.metadata)} pairs; at most {MAX_USER_METADATA_PAIRS} "
                            f"(the provider allows 16 and finetuner uses one)", details={"param": "metadata"})
    if TAG_KEY in request.metadata:
        raise Unprocessable(f"metadata key {TAG_KEY!r} is reserved", details={"param": "metadata"})
    # Continuing from a fine-tuned model (OpenAI allows it): the model must be one of this tenant's
    # (all tenants share one provider key, so the wall is here: any other ft: name is 404), and its
    # family's catalog entry gives the limits, methods, cut-off and price.
    family = family_of(session, tenant_id, request.model) if request.model.startswith("ft:") else request.model
    try:
        entry = catalog.check_can_start(family, provider=request.provider, method=method_type,
                                        enforce_cutoff=enforce_cutoff, today=today)
    except CatalogError as exc:
        raise Unprocessable(str(exc), details={"param": "model"}) from exc
    training_type = hyperparameters.get("training_type")
    if entry.training_types and training_type not in (None, "auto") and training_type not in entry.training_types:
        raise Unprocessable(f"model {request.model!r} on {request.provider!r} supports training_type "
                            f"{' or '.join(entry.training_types)}, not {training_type!r}",
                            details={"param": "hyperparameters.training_type"})
    training = _usable_dataset(session, tenant_id, request.training_dataset_id, "training", method_type)
    if request.validation_dataset_id is not None:
        _usable_dataset(session, tenant_id, request.validation_dataset_id, "validation", method_type)
    return method, hyperparameters, entry, training


def create_job(
    session: Session, tenant_id: str, request: JobRequest, *, catalog: ModelCatalog,
    idempotency_key: str | None = None, enforce_cutoff: bool = True, today: dt.date | None = None,
) -> tuple[Job, bool]:
    """Create a pending job (and defer its first advance). Returns (job, created).

    With an idempotency key, the unique (tenant, key) constraint decides races: the loser gets
    the winner's job back if the bodies match, a 422 if they differ.
    """
    fingerprint = request.fingerprint()
    existing = idempotency.replayed(session, Job, tenant_id, idempotency_key, fingerprint, what="request body")
    if existing is not None:
        return existing, False
    method, hyperparameters, entry, training = check_request(session, tenant_id, request, catalog=catalog,
                                                             enforce_cutoff=enforce_cutoff, today=today)
    job = Job(
        tenant_id=tenant_id, provider=request.provider, model=request.model,
        training_dataset_id=request.training_dataset_id, validation_dataset_id=request.validation_dataset_id,
        method=method, hyperparameters=hyperparameters, suffix=request.suffix, seed=request.seed,
        user_metadata=dict(request.metadata), wandb=request.wandb, status=INITIAL,
        estimated_cost_usd=_estimated_cost(training, hyperparameters, entry.price_per_million_usd),
        idempotency_key=idempotency_key, request_hash=fingerprint,
    )
    job, created = idempotency.insert_once(session, job, key=idempotency_key, fingerprint=fingerprint,
                                           what="request body")
    if not created:
        return job, False
    transition(session, job, INITIAL, reason="created", actor="api", created=True)
    dispatch.defer(session, TaskName.ADVANCE_JOB, job_id=job.id)
    return job, True


def get_job(session: Session, tenant_id: str, job_id: str) -> Job:
    return get_owned(session, Job, tenant_id, job_id)


def list_jobs(session: Session, tenant_id: str, *, status: str | None, limit: int, after: str | None
              ) -> tuple[list[Job], bool]:
    query = owned(Job, tenant_id)
    if status is not None:
        query = query.where(Job.status == status)
    return page(session, query, Job.id, limit=limit, after=after, newest_first=True)


def request_cancel(session: Session, tenant_id: str, job_id: str) -> Job:
    """Mark the job ``cancelling``; the worker carries the cancel to the provider (or ends it here)."""
    job = get_owned(session, Job, tenant_id, job_id, for_update=True)
    status = job.status
    if status in TERMINAL:
        raise Conflict(f"job {job_id} is already {status.value}; it cannot be cancelled",
                       details={"status": status.value})
    if status != JobStatus.CANCELLING:
        transition(session, job, JobStatus.CANCELLING, reason="cancel requested", actor="api")
    dispatch.defer(session, TaskName.ADVANCE_JOB, job_id=job.id)
    return job


def request_pause(session: Session, tenant_id: str, job_id: str) -> Job:
    return _pause_or_resume(session, tenant_id, job_id, pause=True)


def request_resume(session: Session, tenant_id: str, job_id: str) -> Job:
    return _pause_or_resume(session, tenant_id, job_id, pause=False)


def _pause_or_resume(session: Session, tenant_id: str, job_id: str, *, pause: bool) -> Job:
    """Passed straight to the provider, which decides; our state follows its answer.

    The provider call is one bounded attempt made with no row lock held (a request must never keep
    the worker's claim waiting on the network); its answer is then applied under the compare-and-set
    guard of ``core.claims.still_in``, as the pipeline does. A provider that is down answers 503 (and
    the client retries); one that refuses answers 409 with its reason.
    """
    from core.providers import get_provider  # provider calls only through core.providers
    from core.providers.errors import ProviderError

    job = get_owned(session, Job, tenant_id, job_id)
    status = job.status
    target = JobStatus.PAUSED if pause else JobStatus.QUEUED
    verb = "paused" if pause else "resumed"
    allowed_from = {JobStatus.QUEUED, JobStatus.RUNNING} if pause else {JobStatus.PAUSED}
    if status not in allowed_from or job.provider_job_id is None:
        raise Conflict(f"job {job_id} is {status.value}; only a job that is "
                       f"{' or '.join(sorted(s.value for s in allowed_from))} at the provider can be {verb}",
                       details={"status": status.value})
    provider = get_provider(job.provider)
    try:
        answer = provider.pause_job(job.provider_job_id) if pause else provider.resume_job(job.provider_job_id)
    except ProviderError as exc:
        if exc.retryable:
            raise
        raise Conflict(f"the provider refused: {exc.message}", details={"status": status.value}) from exc
    # The answer's status, unless it is one a pause/resume cannot mean (the call succeeded: so it took).
    observed = answer.status if answer.status in ("paused", "queued", "running") else target.value
    if not still_in(session, job, status.value):
        session.refresh(job)  # moved meanwhile (a poll saw the provider's answer, a cancel): show what it is now
        return job
    moved = next_status(status, observed)
    if moved is not None:
        transition(session, job, moved, reason=f"{verb} at the provider", actor="api")
    return job


def count_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
    return {str(status): count for status, count in rows}


__all__ = [
    "TAG_KEY", "InvalidTransition", "JobRequest", "NotFound", "create_job", "get_job",
    "list_jobs", "observe_provider_status", "request_cancel", "request_pause", "request_resume", "transition",
]
