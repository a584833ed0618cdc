"""``/v1/datasets``: upload (streamed, validated, content-addressed), list, read, download, report."""

from __future__ import annotations

import json
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.deps import After, BlobStoreDep, CatalogDep, IdempotencyKey, Limit, SessionDep, SettingsDep, TenantDep
from api.errors import COMMON_ERRORS, CONFLICT, TOO_LARGE
from api.schemas import DatasetOut, DatasetReportOut, Page, SplitCreate, SplitOut
from api.uploads import receive_form
from core.catalog import ModelCatalog
from core.datasets import service as datasets
from core.datasets.service import DatasetFormat, DatasetOptions, StagedUpload, UploadStager, Variant
from core.datasets.validate import parse_columns
from core.errors import BadRequest, Unprocessable
from core.storage import BlobStore

router = APIRouter(prefix="/v1/datasets", tags=["datasets"], responses=COMMON_ERRORS)

_FORMATS: tuple[str, ...] = get_args(DatasetFormat)
_FIELDS = {"name", "format", "system_prompt", "columns", "model"}

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object",
            "required": ["file"],
            "properties": {
                "file": {"type": "string", "format": "binary", "description": "JSONL (or CSV) dataset"},
                "name": {"type": "string", "maxLength": 500, "description": "defaults to the file's name"},
                "format": {"type": "string", "enum": list(_FORMATS), "default": "auto"},
                "system_prompt": {"type": "string", "description": "added to examples that have none"},
                "model": {"type": "string", "maxLength": 200,
                          "description": "base model the counts, limit and cost estimate are for"},
                "columns": {"type": "string", "description": "CSV: the two columns to use, 'prompt,completion' "
                                                               "or a JSON list"},
            },
        }}},
    },
}


def _options(fields: dict[str, str]) -> DatasetOptions:
    unknown = sorted(set(fields) - _FIELDS)
    if unknown:
        raise BadRequest(f"unknown form field(s) {unknown}; expected some of {sorted(_FIELDS)}",
                         details={"param": unknown[0]})
    fmt = fields.get("format") or "auto"
    if fmt not in _FORMATS:
        raise BadRequest(f"format must be one of {list(_FORMATS)}, not {fmt!r}", details={"param": "format"})
    for name, limit in (("name", 500), ("model", 200)):
        if len(fields.get(name) or "") > limit:
            raise BadRequest(f"{name} is longer than {limit} characters", details={"param": name})
    return DatasetOptions(name=fields.get("name") or None, format=fmt,  # type: ignore[arg-type]  # checked above
                          system_prompt=fields.get("system_prompt") or None, columns=_columns(fields.get("columns")),
                          model=fields.get("model") or None)


def _columns(raw: str | None) -> tuple[str, str] | None:
    """``prompt,completion`` or a JSON list of the two names.

    The schema only says "a string", so a string that names no two columns is refused with 422.
    """
    if not raw:
        return None
    value: str | list[str] = raw
    if raw.lstrip().startswith("["):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise Unprocessable("columns is not a valid JSON list", details={"param": "columns"}) from exc
        if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
            raise Unprocessable("columns must be a list of two column names", details={"param": "columns"})
    try:
        return parse_columns(value)
    except ValueError as exc:
        raise Unprocessable(str(exc), details={"param": "columns"}) from exc


def _store_and_commit(session: Session, tenant_id: str, staged: StagedUpload, options: DatasetOptions,
                      store: BlobStore, key: str | None, catalog: ModelCatalog) -> DatasetOut:
    """The blocking part (validation reads every line) runs here, off the event loop."""
    dataset, _ = datasets.create_dataset(session, tenant_id, staged, options, store=store, idempotency_key=key,
                                         catalog=catalog)
    session.commit()
    return DatasetOut.from_row(dataset)


@router.post("", status_code=201, response_model=DatasetOut, openapi_extra=UPLOAD_BODY,
             responses=TOO_LARGE, summary="Upload a dataset")
async def upload_dataset(request: Request, session: SessionDep, tenant: TenantDep, settings: SettingsDep,
                         store: BlobStoreDep, catalog: CatalogDep, idempotency_key: IdempotencyKey = None
                         ) -> DatasetOut:
    """Stored even when invalid (``status: "invalid"`` and its report), so every wrong line can be seen."""
    limit = settings.max_upload_bytes
    form = await receive_form(request, lambda: UploadStager(store, limit), max_bytes=limit)
    try:
        options = _options(form.fields)
        return await run_in_threadpool(_store_and_commit, session, tenant.id, form.staged, options, store,
                                       idempotency_key, catalog)
    finally:
        form.staged.discard()  # a no-op once adopted into the store


@router.get("", response_model=Page[DatasetOut], summary="List datasets, newest first")
def list_datasets(session: SessionDep, tenant: TenantDep, limit: Limit = 20, after: After = None) -> Page[DatasetOut]:
    rows, has_more = datasets.list_datasets(session, tenant.id, limit=limit, after=after)
    return Page[DatasetOut](data=[DatasetOut.from_row(r) for r in rows], has_more=has_more)


@router.get("/{dataset_id}", response_model=DatasetOut, summary="Get a dataset")
def read_dataset(dataset_id: str, session: SessionDep, tenant: TenantDep) -> DatasetOut:
    return DatasetOut.from_row(datasets.get_dataset(session, tenant.id, dataset_id))


@router.post("/{dataset_id}/split", status_code=201, response_model=SplitOut,
             summary="Split a valid dataset into train, validation and (optionally) test children (deterministic)")
def split_dataset(dataset_id: str, session: SessionDep, tenant: TenantDep, store: BlobStoreDep, catalog: CatalogDep,
                  body: SplitCreate | None = None) -> SplitOut:
    """The same fraction and seed always pick the same examples; repeating a split returns the same children.
    The body is optional (defaults: 10 % validation, no test set, seed 42). The parts never overlap."""
    body = body or SplitCreate()
    train, validation, test, _ = datasets.split_dataset(
        session, tenant.id, dataset_id, validation_fraction=body.validation_fraction, seed=body.seed, store=store,
        catalog=catalog, test_fraction=body.test_fraction, stratify=body.stratify)
    session.commit()
    return SplitOut(train=DatasetOut.from_row(train), validation=DatasetOut.from_row(validation),
                    test=DatasetOut.from_row(test) if test is not None else None)


@router.get("/{dataset_id}/report", response_model=DatasetReportOut, summary="A dataset's validation report")
def read_dataset_report(dataset_id: str, session: SessionDep, tenant: TenantDep) -> DatasetReportOut:
    dataset = datasets.get_dataset(session, tenant.id, dataset_id)
    return DatasetReportOut(id=dataset.id, status="valid" if dataset.status == "valid" else "invalid",
                            report=dataset.report or {})


_MEDIA_TYPES = {"csv": "text/csv", "tsv": "text/tab-separated-values"}


@router.get("/{dataset_id}/content", response_class=StreamingResponse, responses=CONFLICT,
            summary="Download a dataset (canonical JSONL by default)")
def download_dataset(
    dataset_id: str, session: SessionDep, tenant: TenantDep, store: BlobStoreDep,
    variant: Annotated[Variant, Query(description="canonical JSONL, or the bytes as uploaded")] = "canonical",
) -> StreamingResponse:
    dataset = datasets.get_dataset(session, tenant.id, dataset_id)
    sha256 = datasets.content_blob(dataset, variant)
    media_type = _MEDIA_TYPES.get(dataset.format, "application/jsonl") if variant == "original" else "application/jsonl"
    extension = {"text/csv": "csv", "text/tab-separated-values": "tsv"}.get(media_type, "jsonl")
    filename = f"{dataset.id}.{extension}"
    return StreamingResponse(datasets.iter_content(store, sha256), media_type=media_type,
                             headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                      "ETag": f'"{sha256}"'})
