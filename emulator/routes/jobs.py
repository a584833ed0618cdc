"""``/fine_tuning/jobs``: create, list (``after``, ``limit``, ``metadata[k]=v``), retrieve, cancel,
pause, resume, events, checkpoints."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request

from emulator.deps import StateDep
from emulator.errors import bad_request
from emulator.pagination import check_limit
from emulator.schemas import CreateJobRequest

router = APIRouter(prefix="/fine_tuning/jobs")

_METADATA_KEY = re.compile(r"^metadata\[(.+)\]$")


def _metadata_filter(request: Request) -> tuple[dict[str, str] | None, bool]:
    """``metadata[k]=v`` pairs (how the SDK encodes ``metadata={k: v}``), or ``metadata=null``."""
    pairs: dict[str, str] = {}
    wants_null = False
    for key, value in request.query_params.multi_items():
        if key == "metadata":
            if value != "null":
                raise bad_request("Use metadata[key]=value to filter, or metadata=null.", param="metadata")
            wants_null = True
        elif match := _METADATA_KEY.match(key):
            pairs[match.group(1)] = value
    if wants_null and pairs:
        raise bad_request("metadata=null cannot be combined with metadata[key]=value.", param="metadata")
    return (pairs or None), wants_null


@router.post("")
def create_job(body: CreateJobRequest, state: StateDep) -> dict[str, Any]:
    return state.create_job(body)


@router.get("")
def list_jobs(request: Request, state: StateDep, after: str | None = None, limit: int | None = None) -> dict[str, Any]:
    metadata, metadata_null = _metadata_filter(request)
    return state.list_jobs(after=after, limit=check_limit(limit, 20), metadata=metadata, metadata_null=metadata_null)


@router.get("/{job_id}")
def retrieve_job(job_id: str, state: StateDep) -> dict[str, Any]:
    return state.retrieve_job(job_id)


@router.post("/{job_id}/cancel")
def cancel_job(job_id: str, state: StateDep) -> dict[str, Any]:
    return state.cancel_job(job_id)


@router.post("/{job_id}/pause")
def pause_job(job_id: str, state: StateDep) -> dict[str, Any]:
    return state.pause_job(job_id)


@router.post("/{job_id}/resume")
def resume_job(job_id: str, state: StateDep) -> dict[str, Any]:
    return state.resume_job(job_id)


@router.get("/{job_id}/events")
def list_events(job_id: str, state: StateDep, after: str | None = None, limit: int | None = None) -> dict[str, Any]:
    return state.list_events(job_id, after=after, limit=check_limit(limit, 20))


@router.get("/{job_id}/checkpoints")
def list_checkpoints(job_id: str, state: StateDep, after: str | None = None,
                     limit: int | None = None) -> dict[str, Any]:
    return state.list_checkpoints(job_id, after=after, limit=check_limit(limit, 10))
