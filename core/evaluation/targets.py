"""What an evaluation asks: resolving ``compare_with`` into models, behind the tenant wall.

All tenants share one provider key, so the provider would happily answer for any ``ft:`` name;
the wall is here. A model may be a catalog base model, or the result or a checkpoint of one of
the caller's own jobs; any other ``ft:`` name, job id or checkpoint id answers 404, exactly as an
unknown one does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from core.catalog import ModelCatalog
from core.errors import Conflict, NotFound, Unprocessable
from core.models import Checkpoint, Job
from core.scoping import get_owned, owned
from core.serving import require_endpoint, serving_of_job

BASELINE_KEY = "baseline"
FINE_TUNED_KEY = "fine_tuned"
BASE_KEY = "base"
MAX_FAMILY_DEPTH = 10  # a chain of continued fine-tunes; deeper than this is a data error


@dataclass(frozen=True)
class Target:
    """One model (or the baseline) asked every held-out example; stored as a dict on the evaluation."""

    key: str
    kind: str  # fine_tuned | base | job | checkpoint | model | baseline
    model: str | None
    family: str | None = None  # the catalog base model whose limits and prices apply
    job_id: str | None = None
    checkpoint_id: str | None = None
    step: int | None = None
    input_price: float | None = None
    output_price: float | None = None
    endpoint: str | None = None  # the endpoint or deployment the user named, called instead of ``model``

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def asks_model(self) -> bool:
        return self.kind != "baseline"


def _ft_not_found(name: str) -> NotFound:
    return NotFound(f"no model {name!r} among this tenant's fine-tuned models or checkpoints",
                    details={"param": "model", "model": name})


def family_of(session: Session, tenant_id: str, model: str) -> str:
    """The catalog base model a (possibly fine-tuned, possibly continued) model descends from."""
    seen = 0
    while model.startswith("ft:"):
        seen += 1
        if seen > MAX_FAMILY_DEPTH:
            raise Unprocessable(f"model {model!r} descends through too many fine-tunes", details={"param": "model"})
        job = session.scalars(owned(Job, tenant_id).where(Job.fine_tuned_model == model)).first()
        if job is None:
            checkpoint = session.scalars(
                owned(Checkpoint, tenant_id).where(Checkpoint.fine_tuned_model_checkpoint == model)).first()
            if checkpoint is None:
                raise _ft_not_found(model)
            job = session.get(Job, checkpoint.job_id)
            if job is None:
                raise _ft_not_found(model)
        model = job.model
    return model


def _priced(target: Target, catalog: ModelCatalog, provider: str) -> Target:
    entry = catalog.find(target.family, provider) if target.family else None
    if entry is None:
        return target
    input_price, output_price = entry.inference_prices(fine_tuned=target.kind not in ("base", "model"))
    return Target(**{**target.as_dict(), "input_price": input_price, "output_price": output_price})


def _job_target(session: Session, tenant_id: str, job: Job, key: str, kind: str) -> Target:
    if job.fine_tuned_model is None:
        raise Conflict(f"job {job.id} is {job.status} and has no fine-tuned model to evaluate",
                       details={"param": "job_id", "status": job.status})
    return Target(key, kind, job.fine_tuned_model, family_of(session, tenant_id, job.model), job_id=job.id)


def _checkpoint_target(session: Session, tenant_id: str, checkpoint: Checkpoint) -> Target:
    job = session.get(Job, checkpoint.job_id)
    family = family_of(session, tenant_id, job.model) if job is not None else None
    return Target(checkpoint.id, "checkpoint", checkpoint.fine_tuned_model_checkpoint, family,
                  job_id=checkpoint.job_id, checkpoint_id=checkpoint.id, step=checkpoint.step)


def resolve_one(session: Session, tenant_id: str, job: Job, name: str, catalog: ModelCatalog) -> Target:
    if name == BASELINE_KEY:
        return Target(BASELINE_KEY, "baseline", None)
    if name == BASE_KEY:
        family = family_of(session, tenant_id, job.model)
        kind = "job" if job.model.startswith("ft:") else "base"
        return _priced(Target(BASE_KEY, kind, job.model, family), catalog, job.provider)
    if name.startswith("job_"):
        other = get_owned(session, Job, tenant_id, name)
        return _priced(_job_target(session, tenant_id, other, other.id, "job"), catalog, other.provider)
    if name.startswith("ckpt_"):
        checkpoint = get_owned(session, Checkpoint, tenant_id, name)
        return _priced(_checkpoint_target(session, tenant_id, checkpoint), catalog, job.provider)
    if name.startswith("ft:"):
        family = family_of(session, tenant_id, name)  # 404 unless it is one of this tenant's
        return _priced(Target(name, "job", name, family), catalog, job.provider)
    entry = catalog.find(name, job.provider)
    if entry is None:
        raise Unprocessable(f"compare_with entry {name!r} is not 'base', 'baseline', a job id, a checkpoint id, "
                            f"one of your ft: models or a catalog model", details={"param": "compare_with"})
    return _priced(Target(name, "model", name, name), catalog, job.provider)


def resolve_targets(session: Session, tenant_id: str, job: Job, compare_with: list[str], *, catalog: ModelCatalog,
                    with_checkpoints: bool = False) -> list[Target]:
    """The job's fine-tuned model first, then each ``compare_with`` entry once, the baseline always."""
    targets = [_priced(_job_target(session, tenant_id, job, FINE_TUNED_KEY, "fine_tuned"), catalog, job.provider)]
    if with_checkpoints:
        checkpoints = session.scalars(owned(Checkpoint, tenant_id).where(Checkpoint.job_id == job.id)
                                      .order_by(Checkpoint.step)).all()
        targets.extend(_priced(_checkpoint_target(session, tenant_id, c), catalog, job.provider)
                       for c in checkpoints)
    for name in [*compare_with, BASELINE_KEY]:
        target = resolve_one(session, tenant_id, job, name, catalog)
        if all(t.key != target.key and (t.model is None or t.model != target.model) for t in targets):
            targets.append(target)
    return targets


def through_endpoints(session: Session, targets: list[Target], *, catalog: ModelCatalog,
                      endpoint: str | None) -> list[Target]:
    """Route each fine-tuned target the way its provider serves it (see ``core.serving``).

    The evaluated job's model goes through ``endpoint`` when it needs one; any other model that
    needs one (a compared job, a checkpoint) is refused with the step to take: one evaluation
    names one endpoint, and the service never deploys one itself.
    """
    routed = []
    for target in targets:
        owner = session.get(Job, target.job_id) if target.job_id else None  # loaded already: no query
        serving = serving_of_job(owner, catalog, model=target.model) if owner and target.model else None
        if owner is None or serving is None:
            routed.append(target)
            continue
        if target.key == FINE_TUNED_KEY:
            called = require_endpoint(serving, endpoint, job_id=owner.id)
            routed.append(replace(target, endpoint=called if called != target.model else None))
            continue
        param = "models" if target.kind == "checkpoint" else "compare_with"
        require_endpoint(serving, None, job_id=owner.id, param=param)
        routed.append(target)
    return routed
