"""Translation between OpenAI's wire objects and our provider-neutral shapes.

Parsing works on the plain dicts of the SDK's models (``to_dict()``), not their attributes: the
SDK builds models leniently, so a field an OpenAI-compatible server leaves out would be a missing
attribute, and a field it adds (OpenAI's own ``paused`` status, Azure extras) would be invisible.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from core.providers.base import (
    ChatResult,
    JobSpec,
    ProviderCheckpoint,
    ProviderEvent,
    ProviderFile,
    ProviderJob,
    ProviderJobError,
)
from core.providers.coerce import as_dict, as_int

HYPERPARAMETER_NAMES = ("n_epochs", "batch_size", "learning_rate_multiplier", "beta")


def to_datetime(value: object) -> datetime | None:
    """A Unix timestamp (seconds) as an aware UTC datetime; ``None`` / 0 stay ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return datetime.fromtimestamp(value, tz=UTC)


def _required_datetime(value: object) -> datetime:
    return to_datetime(value) or datetime.fromtimestamp(0, tz=UTC)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def file_from_openai(raw: Mapping[str, Any]) -> ProviderFile:
    return ProviderFile(
        id=str(raw["id"]),
        filename=str(raw.get("filename") or ""),
        bytes=as_int(raw.get("bytes")) or 0,
        purpose=str(raw.get("purpose") or ""),
        status=_str(raw.get("status")),
        created_at=_required_datetime(raw.get("created_at")),
    )


def _resolved_hyperparameters(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level ``hyperparameters`` (supervised only, per OpenAI) overlaid with the method's own,
    which is where DPO's (and newer supervised jobs') resolved values live."""
    merged = {k: v for k, v in as_dict(raw.get("hyperparameters")).items() if v is not None}
    method = as_dict(raw.get("method"))
    method_type = _str(method.get("type"))
    if method_type:
        inner = as_dict(as_dict(method.get(method_type)).get("hyperparameters"))
        merged.update({k: v for k, v in inner.items() if v is not None})
    return merged


def job_from_openai(raw: Mapping[str, Any]) -> ProviderJob:
    error = as_dict(raw.get("error"))
    message = _str(error.get("message"))
    code = _str(error.get("code"))
    method = raw.get("method")
    return ProviderJob(
        id=str(raw["id"]),
        status=str(raw.get("status") or ""),
        model=str(raw.get("model") or ""),
        fine_tuned_model=_str(raw.get("fine_tuned_model")),
        error=ProviderJobError(code=code, message=message or "", param=_str(error.get("param")))
        if (message or code)
        else None,
        hyperparameters=_resolved_hyperparameters(raw),
        method=dict(method) if isinstance(method, Mapping) else None,
        trained_tokens=as_int(raw.get("trained_tokens")),
        created_at=_required_datetime(raw.get("created_at")),
        finished_at=to_datetime(raw.get("finished_at")),
        estimated_finish=to_datetime(raw.get("estimated_finish")),
        metadata={str(k): str(v) for k, v in as_dict(raw.get("metadata")).items() if v is not None},
        result_files=[str(f) for f in raw.get("result_files") or []],
        training_file=str(raw.get("training_file") or ""),
        validation_file=_str(raw.get("validation_file")),
        seed=as_int(raw.get("seed")),
        suffix=_str(raw.get("suffix")),
    )


def event_from_openai(raw: Mapping[str, Any]) -> ProviderEvent:
    data = raw.get("data")
    return ProviderEvent(
        id=str(raw["id"]),
        created_at=_required_datetime(raw.get("created_at")),
        level=str(raw.get("level") or "info"),
        type=str(raw.get("type") or "message"),
        message=str(raw.get("message") or ""),
        data=dict(data) if isinstance(data, Mapping) else None,
    )


def checkpoint_from_openai(raw: Mapping[str, Any]) -> ProviderCheckpoint:
    metrics = {
        str(k): float(v)
        for k, v in as_dict(raw.get("metrics")).items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    return ProviderCheckpoint(
        id=str(raw["id"]),
        step=as_int(raw.get("step_number")) or as_int(metrics.get("step")) or 0,
        fine_tuned_model_checkpoint=str(raw.get("fine_tuned_model_checkpoint") or ""),
        metrics=metrics,
        created_at=_required_datetime(raw.get("created_at")),
    )


def chat_result_from_openai(raw: Mapping[str, Any]) -> ChatResult:
    choices = raw.get("choices") or []
    first = as_dict(choices[0]) if choices else {}
    usage = raw.get("usage")
    return ChatResult(
        content=_str(as_dict(first.get("message")).get("content")),
        usage={str(k): v for k, v in usage.items() if isinstance(v, int) and not isinstance(v, bool)}
        if isinstance(usage, Mapping)
        else None,
        model=_str(raw.get("model")),
        finish_reason=_str(first.get("finish_reason")),
    )


def job_create_kwargs(spec: JobSpec) -> dict[str, Any]:
    """Keyword arguments for ``client.fine_tuning.jobs.create``.

    Hyperparameters are sent inside ``method`` (OpenAI's current form; the top-level field is
    deprecated). A caller's ``method`` is kept as given; the short-form ``hyperparameters`` only
    fill in the method's when it has none.
    """
    kwargs: dict[str, Any] = {"model": spec.model, "training_file": spec.training_file}
    hyperparameters = {k: v for k, v in spec.hyperparameters.items() if v is not None}
    method: dict[str, Any] | None = dict(spec.method) if spec.method else None
    if method is None and hyperparameters:
        method = {"type": "supervised", "supervised": {"hyperparameters": hyperparameters}}
    elif method is not None and hyperparameters:
        method_type = str(method.get("type") or "supervised")
        section = dict(as_dict(method.get(method_type)))
        if not section.get("hyperparameters"):
            section["hyperparameters"] = hyperparameters
            method[method_type] = section
    if method is not None:
        kwargs["method"] = method
    if spec.validation_file:
        kwargs["validation_file"] = spec.validation_file
    if spec.suffix:
        kwargs["suffix"] = spec.suffix
    if spec.seed is not None:
        kwargs["seed"] = spec.seed
    if spec.metadata:
        kwargs["metadata"] = dict(spec.metadata)
    if spec.integrations:
        kwargs["integrations"] = [dict(i) for i in spec.integrations]
    return kwargs
