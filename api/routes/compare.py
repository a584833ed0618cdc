"""``GET /v1/jobs/compare?ids=a,b,c``: runs side by side (registered before ``/v1/jobs/{job_id}``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import CatalogDep, SessionDep, TenantDep
from api.errors import COMMON_ERRORS
from core import compare

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=COMMON_ERRORS)


class Comparison(BaseModel):
    object: Literal["job.comparison"] = "job.comparison"
    data: list[dict[str, Any]]


@router.get("/compare", response_model=Comparison, summary="Compare jobs side by side")
def compare_jobs(session: SessionDep, tenant: TenantDep, catalog: CatalogDep,
                 ids: Annotated[str, Query(min_length=1, max_length=2000, description="Job ids, comma-separated",
                                           examples=["job_a,job_b"])]) -> Comparison:
    """Per job: base model, resolved hyperparameters, trained tokens, cost, duration, final and best
    train / validation loss (with the step of the best), and its newest evaluation's metrics."""
    job_ids = [part.strip() for part in ids.split(",") if part.strip()]
    return Comparison(data=compare.compare(session, tenant.id, job_ids, catalog=catalog))
