"""OpenAI wire objects as the API sends them, for the scripted server to answer with."""

from __future__ import annotations

from typing import Any

CREATED = 1_790_000_000


def job(job_id: str = "ftjob-1", status: str = "running", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "object": "fine_tuning.job",
        "id": job_id,
        "model": "gpt-4o-mini-2024-07-18",
        "created_at": CREATED,
        "finished_at": None,
        "fine_tuned_model": None,
        "organization_id": "org-1",
        "result_files": [],
        "status": status,
        "validation_file": None,
        "training_file": "file-train",
        "hyperparameters": {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"},
        "trained_tokens": None,
        "error": None,
        "seed": 42,
        "estimated_finish": None,
        "metadata": {},
        "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": "auto"}}},
    }
    body.update(fields)
    return body


def file(file_id: str, filename: str, purpose: str = "fine-tune", status: str = "processed") -> dict[str, Any]:
    return {"object": "file", "id": file_id, "bytes": 10, "created_at": CREATED, "filename": filename,
            "purpose": purpose, "status": status}


def event(event_id: str, created_at: int = CREATED, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"object": "fine_tuning.job.event", "id": event_id, "created_at": created_at,
                            "level": "info", "message": f"event {event_id}", "type": "message", "data": None}
    body.update(fields)
    return body


def page(data: list[dict[str, Any]], has_more: bool = False) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more}


def error(message: str, code: str | None = None, type_: str = "invalid_request_error",
          param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}
