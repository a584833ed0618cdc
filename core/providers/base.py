"""Provider-neutral shapes and the interface every provider implements.

The worker and the API only ever see these types: a provider's own objects (the SDK's pydantic
models, Azure's extras) stop at the provider module, so a second provider needs no change above
this layer. Timestamps are timezone-aware UTC ``datetime`` values; dictionaries are plain JSON-able
data that can be stored as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

FINE_TUNE_PURPOSE = "fine-tune"
PROVIDER_FILENAME_PREFIX = "finetuner-"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_PROVIDER_FILENAME = re.compile(rf"{re.escape(PROVIDER_FILENAME_PREFIX)}([0-9a-f]{{64}})\.jsonl")


def provider_filename(sha256: str, original_name: str | None = None) -> str:
    """The name a dataset is uploaded under: ``finetuner-<sha256>.jsonl``.

    OpenAI's upload takes no metadata, so the name is the only place the content hash can ride
    along; listing files by this exact name is how an upload is found again instead of repeated.
    ``original_name`` is accepted so call sites can pass what they have, but it is deliberately
    not part of the name: the same bytes uploaded under two names must map to one provider file.
    """
    del original_name
    digest = sha256.strip().lower()
    if not _SHA256.fullmatch(digest):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return f"{PROVIDER_FILENAME_PREFIX}{digest}.jsonl"


def sha256_from_provider_filename(filename: str) -> str | None:
    """The hash in a name made by :func:`provider_filename`, or ``None`` for any other name."""
    match = _PROVIDER_FILENAME.fullmatch(filename)
    return match.group(1) if match else None


@dataclass(frozen=True, slots=True)
class ProviderFile:
    id: str
    filename: str
    bytes: int
    purpose: str
    status: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ProviderJobError:
    """Why a provider job failed, as the provider said it (``param`` names the bad input)."""

    code: str | None
    message: str
    param: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderJob:
    """A provider job as last seen.

    ``hyperparameters`` holds what the provider resolved (``"auto"`` replaced by values once
    known; still ``"auto"`` while it is not). ``status`` is the provider's word, which for OpenAI
    includes ``paused`` although its schema does not list it.
    """

    id: str
    status: str
    model: str
    fine_tuned_model: str | None
    error: ProviderJobError | None
    hyperparameters: dict[str, Any]
    method: dict[str, Any] | None
    trained_tokens: int | None
    created_at: datetime
    finished_at: datetime | None
    estimated_finish: datetime | None
    metadata: dict[str, str]
    result_files: list[str]
    training_file: str
    validation_file: str | None
    seed: int | None
    suffix: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """One entry of a job's event log; ``type == "metrics"`` events carry a loss point in ``data``."""

    id: str
    created_at: datetime
    level: str
    type: str
    message: str
    data: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ProviderCheckpoint:
    id: str
    step: int
    fine_tuned_model_checkpoint: str
    metrics: dict[str, float]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What to ask the provider for.

    ``hyperparameters`` is the short supervised form (each value ``"auto"`` or a number); when
    ``method`` is given it wins and ``hyperparameters`` only fills in what the method leaves out.
    ``tag_key`` names the ``metadata`` entry that identifies this job uniquely (our job id): when
    set, a create retried after an ambiguous failure (timeout, 5xx) first looks for a job carrying
    that tag and adopts it, so a lost answer never pays for a second job.
    """

    model: str
    training_file: str
    validation_file: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    method: dict[str, Any] | None = None
    suffix: str | None = None
    seed: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    integrations: list[dict[str, Any]] = field(default_factory=list)
    tag_key: str | None = None

    def __post_init__(self) -> None:
        if self.tag_key is not None and self.tag_key not in self.metadata:
            raise ValueError(f"tag_key {self.tag_key!r} must be one of the metadata keys")


@dataclass(frozen=True, slots=True)
class ChatResult:
    content: str | None
    usage: dict[str, int] | None
    model: str | None = None
    finish_reason: str | None = None


@runtime_checkable
class Provider(Protocol):
    """A fine-tuning provider. Every method either returns or raises a ``ProviderError``.

    Implementations own timeouts and retries: a ``ProviderRetryableError`` reaching the caller
    means the retry budget is spent (or the provider asked for a longer wait than we block for,
    see ``retry_after``), so the caller should re-schedule rather than loop.
    """

    name: str

    def find_file(self, filename: str, purpose: str = FINE_TUNE_PURPOSE) -> ProviderFile | None: ...

    def upload_file(self, path: Path, filename: str, purpose: str = FINE_TUNE_PURPOSE) -> ProviderFile: ...

    def create_job(self, spec: JobSpec) -> ProviderJob: ...

    def find_job_by_tag(self, key: str, value: str) -> ProviderJob | None: ...

    def get_job(self, job_id: str) -> ProviderJob: ...

    def list_jobs_page(self, after: str | None, limit: int = 100) -> tuple[list[ProviderJob], bool]: ...

    def iter_events_newest_first(self, job_id: str, page_size: int = 100) -> Iterator[ProviderEvent]: ...

    def list_events_since(
        self, job_id: str, known_event_id: str | None, page_size: int = 100
    ) -> list[ProviderEvent]: ...

    def list_checkpoints(self, job_id: str) -> list[ProviderCheckpoint]: ...

    def cancel_job(self, job_id: str) -> ProviderJob: ...

    def pause_job(self, job_id: str) -> ProviderJob:
        """One bounded attempt, no retries: made while an API request waits (DESIGN §8's 502/503)."""
        ...

    def resume_job(self, job_id: str) -> ProviderJob:
        """One bounded attempt, no retries, like :meth:`pause_job`."""
        ...

    def chat_completion(self, model: str, messages: list[dict[str, Any]], **params: Any) -> ChatResult: ...

    def close(self) -> None: ...
