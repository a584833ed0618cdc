"""``/v1/sweeps``: a grid of hyperparameters run as ordinary jobs under ``max_parallel`` and a budget."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.deps import BlobStoreDep, CatalogDep, IdempotencyKey, SessionDep, SettingsDep, TenantDep
from api.errors import COMMON_ERRORS, CONFLICT
from api.evaluation_schemas import EvaluationCreate
from api.schemas import BatchSize, JobCreate, LearningRate, NEpochs, UTCDateTime
from core import sweeps
from core.models import Sweep
from core.providers import default_provider_name
from core.scoping import get_owned

router = APIRouter(prefix="/v1/sweeps", tags=["sweeps"], responses=COMMON_ERRORS)

class Grid(BaseModel):
    """Values to try, each as a job's hyperparameter would take it."""

    model_config = ConfigDict(strict=True, extra="forbid")

    n_epochs: Annotated[list[NEpochs], Field(min_length=1, max_length=20)] | None = None
    batch_size: Annotated[list[BatchSize], Field(min_length=1, max_length=20)] | None = None
    learning_rate_multiplier: Annotated[list[LearningRate], Field(min_length=1, max_length=20)] | None = None


class SweepEvaluation(EvaluationCreate):
    """An evaluation run on each succeeded run (same fields as ``POST /v1/jobs/{id}/evaluations``)."""


class SweepCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job: JobCreate = Field(description="The job every run starts from (its hyperparameters fill what the grid "
                                       "does not vary)")
    grid: Grid
    evaluation: SweepEvaluation | None = None
    max_parallel: Annotated[int, Field(ge=1, le=20)] = 2
    budget_usd: Annotated[float, Field(ge=0)] | None = None
    rank_by: Annotated[str, Field(max_length=40)] | None = Field(
        default=None, description="'valid_loss' (default) or a metric of the evaluation")


class SweepOut(BaseModel):
    id: str = Field(examples=["sweep_01m8584q7x00axe6tmxbdv9m"])
    object: Literal["sweep"] = "sweep"
    status: Literal["running", "succeeded", "failed", "cancelled"]
    max_parallel: int
    budget_usd: float | None
    estimated_cost_usd: float | None
    estimate: dict[str, Any] | None
    rank_by: str
    runs: list[dict[str, Any]] = Field(description="Best first by rank_by; runs without a value yet last")
    created_at: UTCDateTime
    finished_at: UTCDateTime | None


def _out(session: SessionDep, sweep: Sweep) -> SweepOut:
    return SweepOut(id=sweep.id, status=sweep.status,
                    max_parallel=sweep.max_parallel, budget_usd=sweep.budget_usd,
                    estimated_cost_usd=sweep.estimated_cost_usd, estimate=sweep.spec.get("estimate"),
                    rank_by=sweep.spec.get("rank_by") or "valid_loss", runs=sweeps.ranking(session, sweep),
                    created_at=sweep.created_at, finished_at=sweep.finished_at)


@router.post("", status_code=202, response_model=SweepOut, summary="Start a hyperparameter sweep")
def create_sweep(body: SweepCreate, session: SessionDep, tenant: TenantDep, catalog: CatalogDep,
                 store: BlobStoreDep, settings: SettingsDep, idempotency_key: IdempotencyKey = None) -> SweepOut:
    """The whole grid's estimated cost (training and evaluations) is checked against ``budget_usd``
    before any job exists: over it is 422 with the estimate. A repeat with the same Idempotency-Key
    and body returns the first sweep."""
    job = body.job.to_request()
    job_spec: dict[str, Any] = {"training_dataset_id": job.training_dataset_id,
                                "validation_dataset_id": job.validation_dataset_id, "model": job.model,
                                "hyperparameters": job.hyperparameters, "method": job.method, "suffix": job.suffix,
                                "seed": job.seed, "metadata": job.metadata, "wandb": job.wandb}
    grid = body.grid.model_dump(exclude_none=True)
    evaluation = body.evaluation.model_dump() if body.evaluation else None
    sweep = sweeps.create_sweep(session, tenant.id, job=job_spec, grid=grid, evaluation=evaluation,
                                max_parallel=body.max_parallel, budget_usd=body.budget_usd, rank_by=body.rank_by,
                                catalog=catalog, store=store, provider=default_provider_name(settings),
                                idempotency_key=idempotency_key)
    session.commit()
    return _out(session, sweep)


@router.get("/{sweep_id}", response_model=SweepOut, summary="A sweep and its runs, ranked")
def read_sweep(sweep_id: str, session: SessionDep, tenant: TenantDep) -> SweepOut:
    return _out(session, get_owned(session, Sweep, tenant.id, sweep_id))


@router.post("/{sweep_id}/cancel", response_model=SweepOut, responses=CONFLICT,
             summary="Cancel a sweep: every unfinished run is cancelled and no new one starts")
def cancel_sweep(sweep_id: str, session: SessionDep, tenant: TenantDep) -> SweepOut:
    sweep = sweeps.request_cancel_sweep(session, tenant.id, sweep_id)
    session.commit()
    return _out(session, sweep)
