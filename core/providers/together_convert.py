"""Translation between Together AI's wire objects and our provider-neutral shapes.

Together's API differs from OpenAI's in every detail an orchestrator touches, and this module is
where those differences stop:

- statuses: ``pending`` (files checked) → ``validating_files``; ``queued``; ``running``,
  ``compressing`` and ``uploading`` (phases after training) → ``running``; ``cancel_requested`` →
  ``cancelling``; ``error`` → ``failed``; ``completed`` → ``succeeded``; ``cancelled``;
- a job has no ``metadata`` and no ``error`` object: our job id rides in the ``suffix`` as a short
  tag (:func:`job_tag`), and a failure's message comes from the job's ``job_error`` event;
- events carry no id and no loss: ids are derived from their content (stable across reads), and
  the loss curve comes from ``list_metrics`` as ``metrics`` events, one per step;
- timestamps are ISO 8601 strings, not Unix seconds.

Parsing works on the plain dicts of the SDK's models (``to_dict()``) for the same reason as for
OpenAI: the SDK builds models leniently and a missing field must not become an AttributeError.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from core.providers.base import JobSpec, ProviderCheckpoint, ProviderEvent, ProviderFile, ProviderJob, ProviderJobError
from core.providers.coerce import as_dict, as_int

#: Together's status → ours (DESIGN §3's provider part).
STATUSES: dict[str, str] = {
    "pending": "validating_files",
    "queued": "queued",
    "running": "running",
    "compressing": "running",
    "uploading": "running",
    "cancel_requested": "cancelling",
    "cancelled": "cancelled",
    "error": "failed",
    "completed": "succeeded",
}
#: Hyperparameters Together's create takes, under their native names (``training_type`` is ours:
#: "lora" or "full", sent as the SDK's ``lora`` flag; ``dpo_beta`` only with DPO).
HYPERPARAMETER_NAMES = (
    "n_epochs", "batch_size", "learning_rate", "n_checkpoints", "n_evals", "warmup_ratio", "weight_decay",
    "max_grad_norm", "lr_scheduler_type", "training_type", "lora_r", "lora_alpha", "lora_dropout",
    "train_on_inputs", "dpo_beta",
)
SUFFIX_LIMIT = 40  # Together: "up to 40 character suffix"
TAG_PREFIX = "ft"
_TAG_LENGTH = 12  # hex digits of sha256(our job id): 48 bits, no clash among any realistic number of jobs
_TAG = re.compile(rf"(?:^|-)({TAG_PREFIX}[0-9a-f]{{{_TAG_LENGTH}}})$")
_SUFFIX_CHARS = re.compile(r"[^A-Za-z0-9-]+")


def job_tag(job_id: str) -> str:
    """The short tag of our job id carried in Together's ``suffix`` (it has no ``metadata``)."""
    return TAG_PREFIX + hashlib.sha256(job_id.encode("utf-8")).hexdigest()[:_TAG_LENGTH]


def tagged_suffix(user_suffix: str | None, tag: str) -> str:
    """``<user suffix>-<tag>`` within Together's 40 characters; the user's part is trimmed, never the tag."""
    room = SUFFIX_LIMIT - len(tag) - 1
    user = _SUFFIX_CHARS.sub("-", user_suffix or "").strip("-")[:room].strip("-")
    return f"{user}-{tag}" if user else tag


def tag_of(suffix_or_name: str | None) -> str | None:
    """The tag at the end of a suffix (or of an output model name ending in ``:<suffix>...``)."""
    if not suffix_or_name:
        return None
    match = _TAG.search(suffix_or_name)
    return match.group(1) if match else None


def to_datetime(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _required_datetime(value: object) -> datetime:
    return to_datetime(value) or datetime.fromtimestamp(0, tz=UTC)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def file_from_together(raw: Mapping[str, Any]) -> ProviderFile:
    return ProviderFile(
        id=str(raw["id"]), filename=str(raw.get("filename") or ""), bytes=as_int(raw.get("bytes")) or 0,
        purpose=str(raw.get("purpose") or ""), status=_str(raw.get("processing_status")),
        created_at=_required_datetime(raw.get("created_at")),
    )


def _error_message(raw: Mapping[str, Any]) -> str | None:
    """Together's job has no error field: the last ``job_error`` (or error-level) event says why."""
    for event in reversed(list(raw.get("events") or [])):
        event = as_dict(event)
        if event.get("type") == "job_error" or event.get("level") == "error":
            return _str(event.get("message"))
    return None


def resolved_hyperparameters(raw: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {k: raw[k] for k in ("n_epochs", "batch_size", "learning_rate", "n_checkpoints",
                                                  "n_evals", "warmup_ratio") if raw.get(k) is not None}
    training_type = as_dict(raw.get("training_type"))
    if training_type.get("type") == "Lora":
        values.update(training_type="lora", lora_r=training_type.get("lora_r"),
                      lora_alpha=training_type.get("lora_alpha"))
    elif training_type.get("type") == "Full":
        values["training_type"] = "full"
    method = as_dict(raw.get("training_method"))
    if method.get("method") == "dpo" and method.get("dpo_beta") is not None:
        values["dpo_beta"] = method["dpo_beta"]
    return {k: v for k, v in values.items() if v is not None}


def job_from_together(raw: Mapping[str, Any]) -> ProviderJob:
    status = str(raw.get("status") or "")
    mapped = STATUSES.get(status, status)
    message = _error_message(raw) if mapped == "failed" else None
    method = as_dict(raw.get("training_method"))
    output = _str(raw.get("model_output_name")) or _str(raw.get("x_model_output_name"))
    progress = as_dict(raw.get("progress"))
    estimated = None
    if progress.get("estimate_available") and as_int(progress.get("seconds_remaining")) is not None:
        estimated = datetime.fromtimestamp(datetime.now(UTC).timestamp() + int(progress["seconds_remaining"]), tz=UTC)
    return ProviderJob(
        id=str(raw["id"]), status=mapped, model=str(raw.get("model") or ""),
        fine_tuned_model=output if mapped == "succeeded" else None,
        error=ProviderJobError(code="job_error", message=message or "the job failed at Together AI")
        if mapped == "failed" else None,
        hyperparameters=resolved_hyperparameters(raw),
        method={"type": "dpo" if method.get("method") == "dpo" else "supervised"},
        trained_tokens=as_int(raw.get("token_count")) if mapped == "succeeded" else None,
        created_at=_required_datetime(raw.get("created_at")),
        finished_at=to_datetime(raw.get("updated_at")) if mapped in ("succeeded", "failed", "cancelled") else None,
        estimated_finish=estimated, metadata={}, result_files=[],
        training_file=str(raw.get("training_file") or ""), validation_file=_str(raw.get("validation_file")),
        seed=as_int(raw.get("random_seed")), suffix=_str(raw.get("suffix")) or output,
    )


def event_id(raw: Mapping[str, Any]) -> str:
    """Together's events have no id: one derived from what never changes about an event."""
    key = "|".join(str(raw.get(k) or "") for k in ("created_at", "type", "step", "message"))
    return "tev-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]


_LEVELS = {"warning": "warn", "legacy_iwarning": "warn", "error": "error", "legacy_ierror": "error"}


def event_from_together(raw: Mapping[str, Any]) -> ProviderEvent:
    data = {k: raw[k] for k in ("type", "step", "total_steps", "checkpoint_path", "model_path", "token_count",
                                "wandb_url") if raw.get(k) is not None}
    return ProviderEvent(
        id=event_id(raw), created_at=_required_datetime(raw.get("created_at")),
        level=_LEVELS.get(str(raw.get("level") or "info"), "info"), type="message",
        message=str(raw.get("message") or raw.get("type") or ""), data=data or None,
    )


#: Together metric names → ours (what the sync stores in columns), first match wins.
METRIC_NAMES = {
    "train_loss": ("train_loss", "loss", "train/loss"),
    "valid_loss": ("eval_loss", "valid_loss", "eval/loss"),
}


def metric_events(job_id: str, points: Sequence[Mapping[str, Any]], at: datetime) -> list[ProviderEvent]:
    """``list_metrics`` points as our ``metrics`` events (``data.step`` plus every figure)."""
    events = []
    for point in points:
        step = as_int(point.get("global_step")) or as_int(point.get("step"))
        if step is None:
            continue
        data: dict[str, Any] = {"step": step}
        for ours, names in METRIC_NAMES.items():
            value = next((point[n] for n in names if isinstance(point.get(n), int | float)), None)
            if value is not None:
                data[ours] = float(value)
        data.update({k: v for k, v in point.items() if k not in data and isinstance(v, int | float)})
        events.append(ProviderEvent(id=f"tmet-{job_id}-{step}", created_at=at, level="info", type="metrics",
                                    message=f"Step {step}: training loss={data.get('train_loss')}", data=data))
    return events


def checkpoint_from_together(job_id: str, raw: Mapping[str, Any]) -> ProviderCheckpoint:
    step = as_int(raw.get("step")) or 0
    path = str(raw.get("path") or raw.get("object_name") or "")
    return ProviderCheckpoint(
        id=f"{job_id}:{raw.get('checkpoint_type') or 'checkpoint'}:{step}", step=step,
        fine_tuned_model_checkpoint=path, metrics={}, created_at=_required_datetime(raw.get("created_at")),
    )


def job_create_kwargs(spec: JobSpec, tag: str) -> dict[str, Any]:
    """Keyword arguments for ``client.fine_tuning.create``: native names, ``"auto"`` left to Together."""
    method = dict(spec.method or {})
    method_type = str(method.get("type") or "supervised")
    given = dict(spec.hyperparameters)
    given.update(as_dict(as_dict(method.get(method_type)).get("hyperparameters")))
    values = {k: v for k, v in given.items() if v is not None and v != "auto"}
    kwargs: dict[str, Any] = {"model": spec.model, "training_file": spec.training_file,
                              "suffix": tagged_suffix(spec.suffix, tag),
                              "training_method": "dpo" if method_type == "dpo" else "sft"}
    if spec.validation_file:
        kwargs["validation_file"] = spec.validation_file
        kwargs.setdefault("n_evals", 1)
    if spec.seed is not None:
        kwargs["random_seed"] = spec.seed
    training_type = values.pop("training_type", None)
    if training_type is not None:
        kwargs["lora"] = training_type == "lora"
    for name in HYPERPARAMETER_NAMES:
        if name in values:
            kwargs[name] = values[name]
    for integration in spec.integrations:
        if integration.get("type") == "wandb":
            wandb = as_dict(integration.get("wandb"))
            kwargs["wandb_project_name"] = wandb.get("project")
            if wandb.get("name"):
                kwargs["wandb_name"] = wandb["name"]
            if wandb.get("entity"):
                kwargs["wandb_entity"] = wandb["entity"]
    return kwargs
