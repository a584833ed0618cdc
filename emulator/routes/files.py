"""``/files``: upload, list, retrieve, delete, content."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from emulator.deps import StateDep
from emulator.errors import bad_request
from emulator.pagination import check_limit

router = APIRouter()

UPLOAD_PURPOSES = {"assistants", "batch", "fine-tune", "vision", "user_data", "evals"}


@router.post("/files")
async def create_file(request: Request, state: StateDep) -> dict[str, Any]:
    try:
        form = await request.form(max_part_size=512 * 1024 * 1024)
    except Exception as exc:  # malformed multipart is the client's fault, never a 500
        raise bad_request(f"Could not parse the multipart form: {exc}") from None
    upload = form.get("file")
    purpose = form.get("purpose")
    if not isinstance(upload, UploadFile):
        raise bad_request("Missing required parameter: 'file'.", param="file", code="missing_required_parameter")
    if not isinstance(purpose, str) or not purpose:
        raise bad_request("Missing required parameter: 'purpose'.", param="purpose",
                          code="missing_required_parameter")
    if purpose not in UPLOAD_PURPOSES:
        raise bad_request(f"Invalid value for 'purpose': '{purpose}'. Supported values are: "
                          f"{', '.join(sorted(UPLOAD_PURPOSES))}.", param="purpose", code="invalid_value")
    expires_after = None
    seconds = form.get("expires_after[seconds]")
    if isinstance(seconds, str):
        if not seconds.isdigit() or not 3600 <= int(seconds) <= 2_592_000:
            raise bad_request("expires_after[seconds] must be between 3600 and 2592000.",
                              param="expires_after.seconds")
        expires_after = int(seconds)
    content = await upload.read()
    return state.create_file(upload.filename or "upload", purpose, content, expires_after)


@router.get("/files")
def list_files(state: StateDep, purpose: str | None = None, limit: int | None = None, after: str | None = None,
               order: Literal["asc", "desc"] = "desc") -> dict[str, Any]:
    return state.list_files(purpose=purpose, after=after, limit=check_limit(limit, 10_000), order=order)


@router.get("/files/{file_id}")
def retrieve_file(file_id: str, state: StateDep) -> dict[str, Any]:
    return state.retrieve_file(file_id)


@router.delete("/files/{file_id}")
def delete_file(file_id: str, state: StateDep) -> dict[str, Any]:
    return state.delete_file(file_id)


@router.get("/files/{file_id}/content")
def file_content(file_id: str, state: StateDep) -> Response:
    """Raw bytes, as OpenAI serves them (the published schema says a JSON string)."""
    return Response(state.file_content(file_id), media_type="application/octet-stream")
