"""The emulator's Together AI dialect: Together's paths and objects over the same simulated engine.

``create_together_app`` serves, at its root, what ``together.Together(base_url=<root>)`` calls
(the SDK puts ``/v1`` in every path): the upload handshake (``POST /v1/files`` answers 302 with an
upload URL and a file id, the bytes are PUT there, then ``POST /v1/files/{id}/preprocess``), files,
``/v1/fine-tunes`` (create, list, retrieve, cancel, events, checkpoints, metrics, model limits,
price estimate) and chat completions. Jobs are the OpenAI dialect's ``Job`` objects — the same
plan, loss curve and checkpoints — rendered here in Together's shape; only names differ (``ft-``
ids, ``account/base:suffix:job`` output models). What is guessed is listed in README.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile

from emulator import chat, together_endpoints
from emulator.deps import StateDep
from emulator.errors import APIError, bad_request, install_error_handlers, not_found
from emulator.jobs import Job
from emulator.middleware import EmulatorMiddleware
from emulator.routes import control
from emulator.routes.chat import RATE_LIMIT_HEADERS
from emulator.schemas import ChatRequest, CreateJobRequest
from emulator.settings import EmulatorSettings
from emulator.state import EmulatorState

router = APIRouter(prefix="/v1")

# Engine status → Together status (the engine's "running" splits into Together's after-training phases).
_STATUS = {"validating_files": "pending", "queued": "queued", "running": "running", "paused": "queued",
           "succeeded": "completed", "failed": "error", "cancelled": "cancelled"}
DEFAULT_LEARNING_RATE = 1e-5  # the SDK's default; the engine's loss curve scales with lr / this
_pending_uploads: dict[tuple[int, str], dict[str, Any]] = {}


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).isoformat().replace("+00:00", "Z")


def _status(job: Job) -> str:
    if job.status == "running" and job.steps_done >= job.plan.total_steps:
        return "compressing" if not job.model_announced else "uploading"
    return _STATUS.get(job.status, job.status)


# ------------------------------------------------------------------ events

_MESSAGE_TYPES = (
    ("Created fine-tuning job", "job_pending"),
    ("Validating training file", "training_data_downloading"),
    ("Files validated", "training_data_download_complete"),
    ("Fine-tuning job started", "training_start"),
    ("Checkpoint created at step", "checkpoint_save"),
    ("New fine-tuned model created", "model_uploading"),
    ("Evaluating model", "model_compressing"),
    ("Usage policy evaluations completed", "model_upload_complete"),
    ("The job has successfully completed", "job_complete"),
    ("Fine-tuning job cancelled", "job_stopped"),
)


def _event(job: Job, event: Any) -> dict[str, Any] | None:
    """One engine event as Together's ``fine-tune-event``; per-step loss goes to ``/metrics`` instead."""
    if event.type == "metrics":
        return None
    kind = "job_error" if event.level == "error" else "warning" if event.level == "warn" else None
    if kind is None:
        kind = next((t for prefix, t in _MESSAGE_TYPES if event.message.startswith(prefix)), "job_start")
    body: dict[str, Any] = {"object": "fine-tune-event", "created_at": _iso(event.created_at),
                            "message": event.message, "type": kind,
                            "level": {"warn": "warning"}.get(event.level, event.level),
                            "total_steps": job.plan.total_steps}
    if kind == "checkpoint_save":
        step = int(event.message.rsplit(" ", 1)[-1])
        body.update(step=step, checkpoint_path=f"{job.model_name}:ckpt-step-{step}")
    if kind == "job_complete":
        body.update(model_path=job.model_name, token_count=job.plan.trained_tokens)
    return body


def _events(job: Job) -> list[dict[str, Any]]:
    return [e for e in (_event(job, event) for event in job.events) if e is not None]


# ------------------------------------------------------------------ jobs

def _training_type(job: Job) -> dict[str, Any]:
    chosen = job.requested.get("_training_type", "lora")
    if chosen == "full":
        return {"type": "Full"}
    return {"type": "Lora", "lora_r": int(job.requested.get("_lora_r", 8)),
            "lora_alpha": int(job.requested.get("_lora_alpha", 16)), "lora_dropout": 0.0,
            "lora_trainable_modules": "all-linear"}


def _job_summary(state: EmulatorState, job: Job) -> dict[str, Any]:
    """The list / create / cancel shape (SDK: ``FineTuningListResponse.Data``)."""
    hyper = job.hyperparameters()
    batch = hyper.get("batch_size")
    body: dict[str, Any] = {
        "id": job.id, "status": _status(job), "created_at": _iso(job.created_at),
        "updated_at": _iso(job.finished_at or job.phase_started), "user_id": state.settings.organization_id,
        "model": job.model, "model_output_name": job.model_name, "suffix": job.suffix,
        "training_file": job.training_file, "validation_file": job.validation_file or "",
        "n_epochs": job.plan.n_epochs, "batch_size": batch if isinstance(batch, int) else None,
        "learning_rate": float(job.requested.get("_learning_rate", DEFAULT_LEARNING_RATE)),
        "n_checkpoints": int(job.requested.get("_n_checkpoints", 1)), "n_evals": int(job.requested.get("_n_evals", 0)),
        "warmup_ratio": float(job.requested.get("_warmup_ratio", 0.0)), "weight_decay": 0.0, "max_grad_norm": 1.0,
        "random_seed": job.seed, "packing": True,
        "training_type": _training_type(job),
        "training_method": ({"method": "dpo", "dpo_beta": job.plan.beta} if job.method_type == "dpo"
                            else {"method": "sft", "train_on_inputs": "auto"}),
        "lr_scheduler": {"lr_scheduler_type": "cosine", "lr_scheduler_args": {"min_lr_ratio": 0.0, "num_cycles": 0.5}},
        "token_count": job.plan.trained_tokens if job.status == "succeeded" else None,
        "started_at": _iso(job.created_at if job.status not in ("validating_files", "queued") else None),
    }
    if job.status in ("queued", "running"):
        finish = job.estimated_finish()
        if finish is not None:
            body["progress"] = {"estimate_available": True,
                                "seconds_remaining": max(0, int(finish - state.clock.now()))}
    return body


def _job_full(state: EmulatorState, job: Job) -> dict[str, Any]:
    """The retrieve shape (SDK: ``FinetuneResponse``): no ``suffix``, but the job's events inline."""
    body = _job_summary(state, job)
    body.pop("suffix")
    body.update(job_id=job.id, events=_events(job), epochs_completed=job.steps_done // max(1, job.plan.steps_per_epoch),
                total_price=None, trainingfile_numlines=job.plan.n_examples)
    return body


class FinetuneRequest(BaseModel):
    """What the SDK's ``fine_tuning.create`` posts (its ``FinetuneRequest``, ``exclude_none``)."""

    model_config = ConfigDict(extra="allow")

    training_file: str = Field(min_length=1)
    model: str | None = None
    validation_file: str | None = None
    n_epochs: int = Field(default=1, ge=1, le=100)
    batch_size: int | Literal["max"] = "max"
    learning_rate: float = Field(default=DEFAULT_LEARNING_RATE, gt=0, le=1)
    n_checkpoints: int = Field(default=1, ge=1)
    n_evals: int = Field(default=0, ge=0)
    warmup_ratio: float = Field(default=0.0, ge=0, lt=1)
    suffix: str | None = Field(default=None, max_length=40, pattern=r"^[A-Za-z0-9-]*$")
    random_seed: int | None = None
    training_type: dict[str, Any] | None = None
    training_method: dict[str, Any] | None = None
    from_checkpoint: str | None = None


def _engine_request(body: FinetuneRequest) -> tuple[CreateJobRequest, dict[str, Any]]:
    if body.model is None:
        raise bad_request("model is required (continuing from a checkpoint is not emulated)", param="model")
    method = (body.training_method or {}).get("method", "sft")
    multiplier = max(0.02, min(10.0, body.learning_rate / DEFAULT_LEARNING_RATE))
    hyper: dict[str, Any] = {"n_epochs": body.n_epochs, "learning_rate_multiplier": multiplier,
                             "batch_size": body.batch_size if isinstance(body.batch_size, int) else "auto"}
    if method == "dpo":
        beta = (body.training_method or {}).get("dpo_beta")
        engine_method: dict[str, Any] = {"type": "dpo", "dpo": {"hyperparameters": {
            **hyper, "beta": beta if isinstance(beta, int | float) and 0 < beta <= 2 else "auto"}}}
    else:
        engine_method = {"type": "supervised", "supervised": {"hyperparameters": hyper}}
    training_type = body.training_type or {}
    extras = {"_learning_rate": body.learning_rate, "_n_checkpoints": body.n_checkpoints, "_n_evals": body.n_evals,
              "_warmup_ratio": body.warmup_ratio,
              "_training_type": "full" if training_type.get("type") == "Full" else "lora",
              "_lora_r": training_type.get("lora_r", 8), "_lora_alpha": training_type.get("lora_alpha", 16)}
    request = CreateJobRequest(model=body.model, training_file=body.training_file,
                               validation_file=body.validation_file or None, suffix=body.suffix or None,
                               seed=body.random_seed, method=engine_method)
    return request, extras


def _entry(state: EmulatorState, model: str) -> Any:
    entry = state.catalog.find(model, "together")
    if entry is None:
        raise bad_request(f"Model {model} is not available for fine-tuning.", param="model", code="model_not_available")
    return entry


@router.post("/fine-tunes")
def create_job(body: FinetuneRequest, state: StateDep) -> dict[str, Any]:
    request, extras = _engine_request(body)
    entry = _entry(state, request.model)
    if extras["_training_type"] == "full" and "full" not in entry.training_types:
        raise bad_request(f"Full fine-tuning is not supported for {request.model}.", param="training_type")
    created = state.create_job(request)
    return _job_summary(state, state.annotate_job(created["id"], extras))


@router.get("/fine-tunes")
def list_jobs(state: StateDep) -> dict[str, Any]:
    return {"data": [_job_summary(state, job) for job in state.jobs_newest_first()]}


@router.get("/fine-tunes/models/limits")
def model_limits(model_name: str, state: StateDep) -> dict[str, Any]:
    entry = _entry(state, model_name)
    full = "full" in entry.training_types
    return {"model_name": entry.model, "max_num_epochs": 20, "max_num_checkpoints": 20, "max_num_evals": 100,
            "max_learning_rate": 1.0, "min_learning_rate": 1e-8, "max_seq_length_sft": entry.token_limit,
            "max_seq_length_dpo": entry.token_limit // 2, "min_max_seq_length": 512,
            "default_gradient_accumulation_steps": 1, "merge_output_lora": False,
            "supports_full_training": full, "supports_reasoning": False, "supports_tools": True,
            "supports_vision": False,
            "lora_training": {"default_rank": 8, "max_rank": 64, "max_batch_size": 128, "max_batch_size_dpo": 64,
                              "min_batch_size": 8, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]},
            "full_training": ({"max_batch_size": 96, "max_batch_size_dpo": 48, "min_batch_size": 8} if full
                              else {"max_batch_size": 0, "max_batch_size_dpo": 0, "min_batch_size": 0})}


class EstimateRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    training_file: str
    model: str | None = None
    n_epochs: int = 1
    training_type: dict[str, Any] | None = None


@router.post("/fine-tunes/estimate-price")
def estimate_price(body: EstimateRequest, state: StateDep) -> dict[str, Any]:
    record = state.find_file_record(body.training_file)
    if record is None:
        return {"estimation_available": False, "unavailable_reason": "train_file_not_validated"}
    entry = state.catalog.find(body.model or "", "together")
    tokens = float(len(record.content) // 4)  # a rough count: the real service tokenizes with the model's own
    full = (body.training_type or {}).get("type") == "Full"
    price = (entry.full_price_per_million_usd if full else entry.price_per_million_usd) if entry else None
    total = round(tokens * body.n_epochs * (price or 0.0) / 1_000_000, 6)
    return {"estimation_available": True, "allowed_to_proceed": True, "estimated_train_token_count": tokens,
            "estimated_eval_token_count": 0.0, "estimated_total_price": total, "user_limit": 1000.0}


@router.get("/fine-tunes/{job_id}")
def retrieve_job(job_id: str, state: StateDep) -> dict[str, Any]:
    return _job_full(state, state.job_object(job_id))


@router.post("/fine-tunes/{job_id}/cancel")
def cancel_job(job_id: str, state: StateDep) -> dict[str, Any]:
    state.cancel_job(job_id)
    return _job_summary(state, state.job_object(job_id))


@router.get("/fine-tunes/{job_id}/events")
def list_events(job_id: str, state: StateDep) -> dict[str, Any]:
    return {"data": _events(state.job_object(job_id))}


@router.get("/fine-tunes/{job_id}/checkpoints")
def list_checkpoints(job_id: str, state: StateDep) -> dict[str, Any]:
    job = state.job_object(job_id)
    data = [{"checkpoint_type": f"Intermediate (step {c.step})", "created_at": _iso(c.created_at), "path": c.model,
             "step": c.step, "checkpoint": "adapter"} for c in reversed(job.checkpoints)]
    if job.status == "succeeded":
        data.insert(0, {"checkpoint_type": "Final", "created_at": _iso(job.finished_at), "path": job.model_name,
                        "step": job.plan.total_steps, "checkpoint": "adapter"})
    return {"data": data}


@router.get("/fine-tunes/{job_id}/metrics")
def list_metrics(job_id: str, state: StateDep) -> dict[str, Any]:
    job = state.job_object(job_id)
    points = []
    for m in job.metrics:
        point: dict[str, float] = {"global_step": float(m.step), "train_loss": m.train_loss}
        if m.valid_loss is not None:
            point["eval_loss"] = m.valid_loss
        points.append(point)
    return {"metrics": points}


# ------------------------------------------------------------------ files

def _file(record: Any) -> dict[str, Any]:
    return {"id": record.id, "object": "file", "bytes": len(record.content), "created_at": record.created_at,
            "filename": record.filename, "FileType": record.filename.rsplit(".", 1)[-1] if "." in record.filename
            else "jsonl", "purpose": record.purpose, "processing_status": "COMPLETED"}


@router.post("/files")
async def start_upload(request: Request, state: StateDep) -> Response:
    """Step 1 of the SDK's upload: 302 to where the bytes go, with the file id in a header."""
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    if any(isinstance(v, UploadFile) for v in form.values()):
        raise bad_request("Upload the file with the upload handshake (file_name, purpose, checksum).", param="file")
    name, purpose = values.get("file_name"), values.get("purpose")
    if not name or not purpose:
        raise bad_request("file_name and purpose are required.", param="file_name" if not name else "purpose")
    if purpose not in ("fine-tune", "eval", "batch-api", "calibration"):
        raise bad_request(f"Invalid purpose '{purpose}'.", param="purpose")
    file_id = "file-" + hashlib.sha256(f"{name}|{values.get('checksum')}|{state.clock.now()}".encode()).hexdigest()[:32]
    _pending_uploads[(id(state), file_id)] = {"filename": name, "purpose": purpose}
    location = str(request.url_for("together_upload_target", file_id=file_id))
    return Response(status_code=302, headers={"Location": location, "X-Together-File-Id": file_id})


@router.put("/files/upload-target/{file_id}", name="together_upload_target")
async def receive_upload(file_id: str, request: Request, state: StateDep) -> Response:
    pending = _pending_uploads.get((id(state), file_id))
    if pending is None:
        raise not_found(f"No upload is waiting for {file_id}.", param="file_id")
    pending["content"] = await request.body()
    return Response(status_code=200)


@router.post("/files/{file_id}/preprocess")
def finish_upload(file_id: str, state: StateDep) -> dict[str, Any]:
    pending = _pending_uploads.pop((id(state), file_id), None)
    if pending is None or "content" not in pending:
        raise not_found(f"No uploaded bytes for {file_id}.", param="file_id")
    state.create_file(pending["filename"], pending["purpose"], pending["content"], file_id=file_id)
    return _file(state.find_file_record(file_id))


@router.get("/files")
def list_files(state: StateDep) -> dict[str, Any]:
    return {"data": [_file(f) for f in state.all_files() if f.purpose != "fine-tune-results"]}


@router.get("/files/{file_id}")
def retrieve_file(file_id: str, state: StateDep) -> dict[str, Any]:
    record = state.find_file_record(file_id)
    if record is None:
        raise not_found(f"File {file_id} not found.", param="file_id")
    return _file(record)


@router.delete("/files/{file_id}")
def delete_file(file_id: str, state: StateDep) -> dict[str, Any]:
    state.delete_file(file_id)
    return {"id": file_id, "deleted": True}


@router.get("/files/{file_id}/content")
def file_content(file_id: str, state: StateDep) -> Response:
    return Response(state.file_content(file_id), media_type="application/octet-stream")


# ------------------------------------------------------------------ chat

def _refuse_unless_serverless(state: EmulatorState, name: str) -> None:
    job = state.job_for_model(name)
    if job is None:
        return
    entry = state.catalog.find(job.base_model, "together")
    full = job.requested.get("_training_type") == "full"
    if full or (entry is not None and entry.serverless_lora is False):
        raise APIError(400, f"Unable to access non-serverless model {name}. Please visit "
                            "https://api.together.ai/models to create and start a new dedicated endpoint "
                            "for the model.", code="model_not_available")


@router.post("/chat/completions", response_model=None)
def create_chat_completion(body: ChatRequest, request: Request, state: StateDep) -> JSONResponse:
    """OpenAI-compatible, as Together's is. A full fine-tune, or a LoRA result of a model the catalog
    marks as not serverless, answers only through a ready dedicated endpoint that someone deployed
    (``emulator.together_endpoints``); asked by its own name it is refused, as Together refuses it."""
    served = together_endpoints.served_model(together_endpoints.store_of(request), body.model, state.clock.now())
    if served is None:
        _refuse_unless_serverless(state, body.model)
    model, encoding = state.chat_model(served or body.model)
    max_tokens = body.max_completion_tokens or body.max_tokens
    result = chat.completion(body.model, model, encoding, body.messages, n=body.n or 1, max_tokens=max_tokens)
    result["prompt"] = []  # Together's ChatCompletion requires it (the echoed prompt, empty unless asked)
    result.pop("system_fingerprint", None)
    return JSONResponse(result, headers=RATE_LIMIT_HEADERS)


def create_together_app(settings: EmulatorSettings | None = None) -> FastAPI:
    """The Together dialect as its own ASGI app (own state: Together's files and jobs are its own)."""
    settings = settings or EmulatorSettings()
    if settings.state_file is not None:  # a file of its own beside the OpenAI dialect's
        settings = settings.model_copy(update={"state_file": Path(f"{settings.state_file}.together")})
    state = EmulatorState(settings, dialect="together")
    app = FastAPI(title="finetuner Together AI emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.emulator = state
    install_error_handlers(app)
    app.state.together_endpoints = together_endpoints.EndpointStore()
    app.include_router(router)
    app.include_router(together_endpoints.router)
    app.include_router(control.router)
    app.add_middleware(EmulatorMiddleware, state=state)
    return app
