"""``/v1/jobs``: create, list, read, follow (transitions, events, metrics, checkpoints), cancel, pause, resume.

A job's children are read through ``core.scoping`` like every tenant-owned row; the parent job is
looked up first so an unknown or foreign job id is a 404 rather than an empty list.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import InstrumentedAttribute, Session

from api.deps import After, CatalogDep, ChildLimit, CutoffDep, IdempotencyKey, Limit, SessionDep, SettingsDep, TenantDep
from api.errors import COMMON_ERRORS, CONFLICT, PROVIDER
from api.schemas import (
    EVENT_PREFIX,
    METRIC_PREFIX,
    TRANSITION_PREFIX,
    CheckpointOut,
    EventOut,
    JobCreate,
    JobOut,
    MetricOut,
    MetricSeriesOut,
    Page,
    SeriesOut,
    TransitionOut,
    parse_seq_cursor,
)
from core import job_metrics, jobs
from core.downsample import MIN_POINTS
from core.errors import BadRequest
from core.models import Checkpoint, JobEvent, JobMetric, JobTransition
from core.providers import default_provider_name
from core.scoping import owned, page
from core.states import JobStatus

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=COMMON_ERRORS)


def _seq_after(prefix: str) -> Any:
    return Query(pattern=rf"^({prefix}_)?[0-9]{{1,18}}$", examples=[f"{prefix}_42"],
                 description=f"The last id of the previous page (`{prefix}_<n>` or `<n>`), to tail with")


TransitionAfter = Annotated[str | None, _seq_after(TRANSITION_PREFIX)]
EventAfter = Annotated[str | None, _seq_after(EVENT_PREFIX)]
MetricAfter = Annotated[str | None, _seq_after(METRIC_PREFIX)]

Child = TypeVar("Child", JobTransition, JobEvent, JobMetric, Checkpoint)


def _children(session: Session, tenant_id: str, job_id: str, model: type[Child], *, limit: int,
              after: Any) -> tuple[list[Child], bool]:
    """Oldest first, after a cursor: what a client tailing a job needs (DESIGN §8)."""
    jobs.get_job(session, tenant_id, job_id)  # 404 for an unknown or foreign job
    job_column: InstrumentedAttribute[str] = model.job_id
    id_column: InstrumentedAttribute[Any] = model.id
    query = owned(model, tenant_id).where(job_column == job_id)
    return page(session, query, id_column, limit=limit, after=after, newest_first=False)


@router.post("", status_code=202, response_model=JobOut, summary="Create a fine-tuning job")
def create_job(body: JobCreate, session: SessionDep, tenant: TenantDep, catalog: CatalogDep, cutoff: CutoffDep,
               settings: SettingsDep, idempotency_key: IdempotencyKey = None) -> JobOut:
    """Accepted as ``pending``; workers take it from there. A repeat with the same Idempotency-Key and
    body answers with the original job and creates nothing."""
    request = body.to_request(provider=default_provider_name(settings))
    job, _ = jobs.create_job(session, tenant.id, request, catalog=catalog,
                             idempotency_key=idempotency_key, enforce_cutoff=cutoff.enforce, today=cutoff.today)
    session.commit()
    return JobOut.from_row(job, catalog)


@router.get("", response_model=Page[JobOut], summary="List jobs, newest first")
def list_jobs(session: SessionDep, tenant: TenantDep, catalog: CatalogDep,
              status: Annotated[JobStatus | None, Query()] = None, limit: Limit = 20,
              after: After = None) -> Page[JobOut]:
    rows, has_more = jobs.list_jobs(session, tenant.id, status=status.value if status else None, limit=limit,
                                    after=after)
    return Page[JobOut](data=[JobOut.from_row(j, catalog) for j in rows], has_more=has_more)


@router.get("/{job_id}", response_model=JobOut, summary="Get a job")
def read_job(job_id: str, session: SessionDep, tenant: TenantDep, catalog: CatalogDep) -> JobOut:
    return JobOut.from_row(jobs.get_job(session, tenant.id, job_id), catalog)


@router.get("/{job_id}/transitions", response_model=Page[TransitionOut], summary="A job's state changes, oldest first")
def list_transitions(job_id: str, session: SessionDep, tenant: TenantDep, limit: ChildLimit = 20,
                     after: TransitionAfter = None) -> Page[TransitionOut]:
    rows, has_more = _children(session, tenant.id, job_id, JobTransition, limit=limit,
                               after=parse_seq_cursor(TRANSITION_PREFIX, after))
    return Page[TransitionOut](data=[TransitionOut.from_row(r) for r in rows], has_more=has_more)


@router.get("/{job_id}/events", response_model=Page[EventOut], summary="A job's provider events, oldest first")
def list_events(job_id: str, session: SessionDep, tenant: TenantDep, limit: ChildLimit = 20,
                after: EventAfter = None) -> Page[EventOut]:
    rows, has_more = _children(session, tenant.id, job_id, JobEvent, limit=limit,
                               after=parse_seq_cursor(EVENT_PREFIX, after))
    return Page[EventOut](data=[EventOut.from_row(r) for r in rows], has_more=has_more)


MaxPoints = Annotated[int | None, Query(ge=MIN_POINTS, le=100_000, description=(
    "Downsample: each series on its own to at most this many points (min and max per bucket; the series' "
    "minimum, maximum and last point are kept). Answers a `job.metric_series` object instead of a page."))]
MetricFormat = Annotated[Literal["json", "csv"], Query(description="`csv` streams every point (no paging)")]


@router.get("/{job_id}/metrics", response_model=Page[MetricOut] | MetricSeriesOut,
            summary="A job's loss curve: points oldest first, downsampled series, or CSV",
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}})
def list_metrics(job_id: str, request: Request, session: SessionDep, tenant: TenantDep, limit: ChildLimit = 20,
                 after: MetricAfter = None, max_points: MaxPoints = None,
                 format: MetricFormat = "json") -> Page[MetricOut] | MetricSeriesOut | StreamingResponse:
    if format == "csv":
        if max_points is not None or after is not None:
            raise BadRequest("format=csv streams every point; it takes neither max_points nor after",
                             details={"param": "max_points" if max_points is not None else "after"})
        jobs.get_job(session, tenant.id, job_id)  # 404 before the stream starts
        chunks = job_metrics.csv_chunks(request.app.state.sessionmaker, tenant.id, job_id)
        return StreamingResponse(chunks, media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="{job_id}-metrics.csv"'})
    if max_points is not None:
        if after is not None:
            raise BadRequest("max_points answers the whole curve; it does not take after", details={"param": "after"})
        jobs.get_job(session, tenant.id, job_id)
        total, sampled = job_metrics.series(session, tenant.id, job_id, max_points=max_points)
        out = {name: SeriesOut(steps=s.steps, values=s.values, total_points=s.total_points)
               for name, s in sampled.items()}
        return MetricSeriesOut(job_id=job_id, max_points=max_points, total_points=total, series=out)
    rows, has_more = _children(session, tenant.id, job_id, JobMetric, limit=limit,
                               after=parse_seq_cursor(METRIC_PREFIX, after))
    return Page[MetricOut](data=[MetricOut.from_row(r) for r in rows], has_more=has_more)


@router.get("/{job_id}/checkpoints", response_model=Page[CheckpointOut], summary="A job's checkpoints, oldest first")
def list_checkpoints(job_id: str, session: SessionDep, tenant: TenantDep, limit: Limit = 20,
                     after: After = None) -> Page[CheckpointOut]:
    rows, has_more = _children(session, tenant.id, job_id, Checkpoint, limit=limit, after=after)
    return Page[CheckpointOut](data=[CheckpointOut.from_row(r) for r in rows], has_more=has_more)


@router.post("/{job_id}/cancel", status_code=202, response_model=JobOut, responses=CONFLICT,
             summary="Cancel a job")
def cancel_job(job_id: str, session: SessionDep, tenant: TenantDep, catalog: CatalogDep) -> JobOut:
    """Accepted as ``cancelling``; the worker carries it to the provider. A finished job is 409."""
    job = jobs.request_cancel(session, tenant.id, job_id)
    session.commit()
    return JobOut.from_row(job, catalog)


@router.post("/{job_id}/pause", response_model=JobOut, responses={**CONFLICT, **PROVIDER},
             summary="Pause a queued or running job")
def pause_job(job_id: str, session: SessionDep, tenant: TenantDep, catalog: CatalogDep) -> JobOut:
    job = jobs.request_pause(session, tenant.id, job_id)
    session.commit()
    return JobOut.from_row(job, catalog)


@router.post("/{job_id}/resume", response_model=JobOut, responses={**CONFLICT, **PROVIDER},
             summary="Resume a paused job")
def resume_job(job_id: str, session: SessionDep, tenant: TenantDep, catalog: CatalogDep) -> JobOut:
    job = jobs.request_resume(session, tenant.id, job_id)
    session.commit()
    return JobOut.from_row(job, catalog)
