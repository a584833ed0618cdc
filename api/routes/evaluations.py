"""Evaluations: start one for a job, read it (status, metrics with parse rates, money), page its
items (every answer stored), cancel it. Reads go through ``core.scoping``: another tenant's id is 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import After, BlobStoreDep, CatalogDep, IdempotencyKey, Limit, SessionDep, TenantDep
from api.errors import COMMON_ERRORS, CONFLICT
from api.evaluation_schemas import EVALUATION_ITEM_PREFIX, EvaluationCreate, EvaluationItemOut, EvaluationOut
from api.schemas import Page, parse_seq_cursor
from core import jobs
from core.errors import BadRequest
from core.evaluation import service

router = APIRouter(tags=["evaluations"], responses=COMMON_ERRORS)

ItemAfter = Annotated[str | None, Query(pattern=rf"^({EVALUATION_ITEM_PREFIX}_)?[0-9]{{1,9}}$",
                                        examples=[f"{EVALUATION_ITEM_PREFIX}_19"],
                                        description="The last item id of the previous page")]


@router.post("/v1/jobs/{job_id}/evaluations", status_code=202, response_model=EvaluationOut, responses=CONFLICT,
             summary="Evaluate a job's fine-tuned model on a held-out dataset")
def create_evaluation(job_id: str, session: SessionDep, tenant: TenantDep, catalog: CatalogDep,
                      store: BlobStoreDep, body: EvaluationCreate | None = None,
                      idempotency_key: IdempotencyKey = None) -> EvaluationOut:
    """Estimated first (422 over ``max_cost_usd``); accepted as ``queued`` with every item stored; a
    worker asks the models. A job that has not succeeded is 409. A repeat with the same
    Idempotency-Key and body returns the first evaluation."""
    jobs.get_job(session, tenant.id, job_id)  # another tenant's job is 404 before anything about the body
    if body is None:
        raise BadRequest("malformed request: body: a JSON object with dataset_id and task is required",
                         details={"param": "body"})
    evaluation = service.create_evaluation(session, tenant.id, job_id, body.to_request(), catalog=catalog,
                                           store=store, idempotency_key=idempotency_key)
    session.commit()
    return EvaluationOut.from_row(evaluation)


@router.get("/v1/jobs/{job_id}/evaluations", response_model=Page[EvaluationOut],
            summary="A job's evaluations, newest first")
def list_job_evaluations(job_id: str, session: SessionDep, tenant: TenantDep, limit: Limit = 20,
                         after: After = None) -> Page[EvaluationOut]:
    rows, has_more = service.list_for_job(session, tenant.id, job_id, limit=limit, after=after)
    return Page[EvaluationOut](data=[EvaluationOut.from_row(r) for r in rows], has_more=has_more)


@router.get("/v1/evaluations/{evaluation_id}", response_model=EvaluationOut, summary="Get an evaluation")
def read_evaluation(evaluation_id: str, session: SessionDep, tenant: TenantDep) -> EvaluationOut:
    return EvaluationOut.from_row(service.get_evaluation(session, tenant.id, evaluation_id))


@router.get("/v1/evaluations/{evaluation_id}/items", response_model=Page[EvaluationItemOut],
            summary="An evaluation's items in example order, each with every model's answer")
def list_items(evaluation_id: str, session: SessionDep, tenant: TenantDep, limit: Limit = 20,
               after: ItemAfter = None) -> Page[EvaluationItemOut]:
    evaluation = service.get_evaluation(session, tenant.id, evaluation_id)
    models = {t["key"]: t["model"] for t in evaluation.targets}
    groups, has_more = service.list_items(session, tenant.id, evaluation_id, limit=limit,
                                          after=parse_seq_cursor(EVALUATION_ITEM_PREFIX, after))
    return Page[EvaluationItemOut](data=[EvaluationItemOut.from_rows(i, rows, models) for i, rows in groups],
                                   has_more=has_more)


@router.post("/v1/evaluations/{evaluation_id}/cancel", response_model=EvaluationOut, responses=CONFLICT,
             summary="Cancel an evaluation (what it has answered is kept)")
def cancel_evaluation(evaluation_id: str, session: SessionDep, tenant: TenantDep) -> EvaluationOut:
    evaluation = service.request_cancel(session, tenant.id, evaluation_id)
    session.commit()
    return EvaluationOut.from_row(evaluation)
