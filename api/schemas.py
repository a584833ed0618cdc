"""Request and response models: the API's contract (DESIGN §8), separate from the SQLAlchemy rows.

Requests are strict (no "3" for 3, no unknown fields): a body that does not match this contract is
malformed (400); one that matches but is refused by the rules in ``core`` is 422. Responses carry
prefixed ids, UTC timestamps ending in ``Z`` and money as plain numbers.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from core.catalog import ModelCatalog
from core.errors import BadRequest
from core.jobs import JobRequest
from core.models import Checkpoint, Dataset, Job, JobEvent, JobMetric, JobTransition
from core.serving import Serving, serving_of_job
from core.states import JobStatus


def _utc_text(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


UTCDateTime = Annotated[
    dt.datetime,
    PlainSerializer(_utc_text, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": ["2026-11-23T21:40:00Z"]}),
]

# --- integer-keyed children of a job, exposed with a prefix -----------------------------------------

EVENT_PREFIX, TRANSITION_PREFIX, METRIC_PREFIX = "jev", "jtr", "jmp"


def seq_id(prefix: str, value: int) -> str:
    return f"{prefix}_{value}"


def parse_seq_cursor(prefix: str, value: str | None) -> int | None:
    """An ``after`` cursor for events, transitions or metrics: ``jev_12`` or plain ``12``."""
    if value is None:
        return None
    digits = value.removeprefix(f"{prefix}_")
    if not digits.isdigit():
        raise BadRequest(f"after must look like '{prefix}_<number>', not {value!r}", details={"param": "after"})
    return int(digits)


# --- errors and lists ----------------------------------------------------------------------------


class ErrorBody(BaseModel):
    type: str = Field(examples=["not_found"])
    message: str
    details: Any | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    object: Literal["list"] = "list"
    data: list[T]
    has_more: bool


# --- datasets ------------------------------------------------------------------------------------


class DatasetOut(BaseModel):
    id: str = Field(examples=["ds_01jd4x9m6q0000a1b2c3d4e5"])
    object: Literal["dataset"] = "dataset"
    name: str
    sha256: str
    bytes: int
    canonical_sha256: str | None
    canonical_bytes: int | None
    format: str
    num_examples: int
    status: Literal["valid", "invalid"]
    report: dict[str, Any]
    parent_id: str | None = Field(default=None, description="The dataset this one was split from")
    split_role: Literal["train", "validation", "test"] | None = None
    created_at: UTCDateTime

    @classmethod
    def from_row(cls, row: Dataset) -> DatasetOut:
        return cls(
            id=row.id, name=row.name, sha256=row.sha256, bytes=row.bytes, canonical_sha256=row.canonical_sha256,
            canonical_bytes=row.canonical_bytes, format=row.format, num_examples=row.num_examples,
            status="valid" if row.status == "valid" else "invalid", report=row.report or {},
            parent_id=row.parent_id,
            split_role=row.split_role if row.split_role in ("train", "validation", "test") else None,
            created_at=row.created_at,
        )


class SplitCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    validation_fraction: float = Field(default=0.1, gt=0, lt=1, description="Share of examples for validation")
    test_fraction: float = Field(default=0.0, ge=0, lt=1,
                                 description="Share held out as a test set for evaluations (0: no test set)")
    stratify: bool = Field(default=False, description="Keep each label's share (last assistant reply) in every part")
    seed: int = Field(default=42, ge=0, le=2_147_483_647, strict=True, description="Same seed, same split (an integer)")


class SplitOut(BaseModel):
    object: Literal["dataset.split"] = "dataset.split"
    train: DatasetOut
    validation: DatasetOut
    test: DatasetOut | None = None


class DatasetReportOut(BaseModel):
    id: str
    object: Literal["dataset.report"] = "dataset.report"
    status: Literal["valid", "invalid"]
    report: dict[str, Any]


# --- jobs: requests ------------------------------------------------------------------------------

Auto = Literal["auto"]
NEpochs = Auto | Annotated[int, Field(ge=1, le=50)]
BatchSize = Auto | Literal["max"] | Annotated[int, Field(ge=1, le=256)]  # "max": Together only (core checks)
LearningRate = Auto | Annotated[float, Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class Hyperparameters(_Strict):
    """Each provider's native names: the three below are OpenAI's (typed here); other names (Together's
    ``learning_rate``, ``n_checkpoints``, ``training_type``, ...) pass the schema and are checked
    against the job's provider in ``core.hyperparameters``, a 422 naming the names it takes."""

    model_config = ConfigDict(strict=True, extra="allow")

    n_epochs: NEpochs | None = None
    batch_size: BatchSize | None = None
    learning_rate_multiplier: LearningRate | None = None


class DpoHyperparameters(Hyperparameters):
    beta: Auto | Annotated[float, Field(gt=0, le=2)] | None = None


class SupervisedMethod(_Strict):
    hyperparameters: Hyperparameters | None = None


class DpoMethod(_Strict):
    hyperparameters: DpoHyperparameters | None = None


class Method(_Strict):
    """OpenAI's ``method`` object; top-level ``hyperparameters`` is the short form for supervised."""

    type: Literal["supervised", "dpo"]
    supervised: SupervisedMethod | None = None
    dpo: DpoMethod | None = None


class Wandb(_Strict):
    """Passed to the provider as its native ``integrations: [{type: "wandb", wandb: ...}]`` entry."""

    project: Annotated[str, Field(min_length=1, max_length=200)]
    entity: Annotated[str, Field(max_length=200)] | None = None
    name: Annotated[str, Field(max_length=200)] | None = None
    tags: list[Annotated[str, Field(max_length=64)]] | None = None
    sync: bool | None = Field(default=None, description="Also log our stored metrics, config and results to a W&B "
                              "run from the worker (the wandb package; WANDB_MODE=offline works)")


MetadataKey = Annotated[str, Field(min_length=1, max_length=64)]
MetadataValue = Annotated[str, Field(max_length=512)]
SUFFIX_PATTERN = r"^[A-Za-z0-9._-]+$"


class JobCreate(_Strict):
    training_dataset_id: Annotated[str, Field(min_length=1, max_length=40)]
    validation_dataset_id: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    model: Annotated[str, Field(min_length=1, max_length=200, examples=["gpt-4o-mini-2024-07-18"])]
    hyperparameters: Hyperparameters | None = None
    method: Method | None = None
    # It becomes part of ``ft:<model>:<org>:<suffix>:<id>``: a ':' or a newline there breaks anyone
    # who parses the name, and bidi controls make it lie when shown. So the safe characters only.
    suffix: Annotated[str, Field(min_length=1, max_length=64, pattern=SUFFIX_PATTERN,
                                 description="Letters, digits, '-', '_' and '.'; up to 64")] | None = None
    seed: Annotated[int, Field(ge=0, le=2_147_483_647, strict=True)] | None = None
    metadata: dict[MetadataKey, MetadataValue] | None = None
    wandb: Wandb | None = None
    provider: Literal["openai", "azure", "together"] | None = Field(
        default=None, description="the API dialect (endpoints come from configuration); default as configured")

    def to_request(self, provider: str = "openai") -> JobRequest:
        """Equal bodies give equal requests (and fingerprints): empty and absent objects both become None."""
        hyperparameters = self.hyperparameters.model_dump(exclude_none=True) if self.hyperparameters else None
        return JobRequest(
            training_dataset_id=self.training_dataset_id, validation_dataset_id=self.validation_dataset_id,
            model=self.model, hyperparameters=hyperparameters or None,
            method=self.method.model_dump(exclude_none=True) if self.method else None,
            suffix=self.suffix, seed=self.seed, metadata=dict(self.metadata or {}),
            wandb=self.wandb.model_dump(exclude_none=True) if self.wandb else None,
            provider=self.provider or provider,
        )


# --- jobs: responses -----------------------------------------------------------------------------


class JobError(BaseModel):
    code: str | None = None
    message: str
    param: str | None = None


class ServingOut(BaseModel):
    mode: Literal["serverless", "dedicated_endpoint", "deployment"] = Field(
        description="serverless: callable now; dedicated_endpoint / deployment: only after you deploy one")
    model: str
    endpoint_required: bool = Field(description="An evaluation needs 'endpoint' naming what you deployed")
    how: str

    @classmethod
    def of(cls, serving: Serving | None) -> ServingOut | None:
        return cls(**serving.as_dict()) if serving is not None else None


class JobOut(BaseModel):
    id: str = Field(examples=["job_01jd4x9m6q0000a1b2c3d4e5"])
    object: Literal["job"] = "job"
    status: JobStatus
    model: str
    provider: str
    provider_job_id: str | None
    method: dict[str, Any]
    hyperparameters: dict[str, Any] = Field(description="as requested; 'auto' where not given")
    resolved_hyperparameters: dict[str, Any] | None = Field(description="what the provider chose; null until known")
    training_dataset_id: str
    validation_dataset_id: str | None
    training_file_id: str | None = Field(description="the provider's file id, once uploaded")
    validation_file_id: str | None
    suffix: str | None
    seed: int | None
    metadata: dict[str, Any]
    wandb: dict[str, Any] | None
    fine_tuned_model: str | None
    serving: ServingOut | None = Field(
        default=None, description="How the fine-tuned model can be called; null until there is one")
    error: JobError | None
    trained_tokens: int | None
    estimated_cost_usd: float | None
    estimated_finish: UTCDateTime | None
    overfitting_suspected: bool = Field(
        default=False, description="Validation loss climbed while training loss fell (see the job's events)")
    overfitting_step: int | None = Field(default=None, description="The step at which overfitting was suspected")
    created_at: UTCDateTime
    updated_at: UTCDateTime
    status_changed_at: UTCDateTime
    finished_at: UTCDateTime | None

    @classmethod
    def from_row(cls, job: Job, catalog: ModelCatalog) -> JobOut:
        error = None
        if job.error:
            error = JobError(code=job.error.get("code"), message=str(job.error.get("message") or ""),
                             param=job.error.get("param"))
        return cls(
            id=job.id, status=job.status, model=job.model, provider=job.provider,
            provider_job_id=job.provider_job_id, method=job.method or {}, hyperparameters=job.hyperparameters or {},
            resolved_hyperparameters=job.resolved_hyperparameters, training_dataset_id=job.training_dataset_id,
            validation_dataset_id=job.validation_dataset_id, training_file_id=job.training_file_id,
            validation_file_id=job.validation_file_id, suffix=job.suffix, seed=job.seed,
            metadata=job.user_metadata or {}, wandb=job.wandb, fine_tuned_model=job.fine_tuned_model,
            serving=ServingOut.of(serving_of_job(job, catalog)), error=error,
            trained_tokens=job.trained_tokens, estimated_cost_usd=job.estimated_cost_usd,
            estimated_finish=job.estimated_finish, overfitting_suspected=job.overfitting_step is not None,
            overfitting_step=job.overfitting_step, created_at=job.created_at, updated_at=job.updated_at,
            status_changed_at=job.status_changed_at, finished_at=job.finished_at,
        )


class TransitionOut(BaseModel):
    id: str = Field(examples=["jtr_42"])
    object: Literal["job.transition"] = "job.transition"
    job_id: str
    from_status: JobStatus | None
    to_status: JobStatus
    reason: str
    actor: str
    at: UTCDateTime

    @classmethod
    def from_row(cls, row: JobTransition) -> TransitionOut:
        return cls(id=seq_id(TRANSITION_PREFIX, row.id), job_id=row.job_id,
                   from_status=row.from_status,
                   to_status=row.to_status, reason=row.reason, actor=row.actor, at=row.at)


class EventOut(BaseModel):
    id: str = Field(examples=["jev_42"])
    object: Literal["job.event"] = "job.event"
    job_id: str
    provider_event_id: str
    level: str
    type: str
    message: str
    data: dict[str, Any] | None
    created_at: UTCDateTime

    @classmethod
    def from_row(cls, row: JobEvent) -> EventOut:
        return cls(id=seq_id(EVENT_PREFIX, row.id), job_id=row.job_id, provider_event_id=row.provider_event_id,
                   level=row.level, type=row.type, message=row.message, data=row.data, created_at=row.created_at)


class MetricOut(BaseModel):
    id: str = Field(examples=["jmp_42"])
    object: Literal["job.metric"] = "job.metric"
    job_id: str
    step: int
    train_loss: float | None
    train_mean_token_accuracy: float | None
    valid_loss: float | None
    valid_mean_token_accuracy: float | None
    full_valid_loss: float | None
    full_valid_mean_token_accuracy: float | None
    data: dict[str, Any] = Field(description="every metric the provider gave for this step")
    created_at: UTCDateTime

    @classmethod
    def from_row(cls, row: JobMetric) -> MetricOut:
        return cls(
            id=seq_id(METRIC_PREFIX, row.id), job_id=row.job_id, step=row.step, train_loss=row.train_loss,
            train_mean_token_accuracy=row.train_mean_token_accuracy, valid_loss=row.valid_loss,
            valid_mean_token_accuracy=row.valid_mean_token_accuracy, full_valid_loss=row.full_valid_loss,
            full_valid_mean_token_accuracy=row.full_valid_mean_token_accuracy, data=row.data or {},
            created_at=row.created_at,
        )


class SeriesOut(BaseModel):
    steps: list[int]
    values: list[float]
    total_points: int = Field(description="points this series has before downsampling")


class MetricSeriesOut(BaseModel):
    """``?max_points=N``: each series on its own, at most N points, keeping its minimum, maximum and last point."""

    object: Literal["job.metric_series"] = "job.metric_series"
    job_id: str
    max_points: int
    total_points: int = Field(description="metrics points the job has")
    series: dict[str, SeriesOut] = Field(description="by metric name; only series with at least one value")


class CheckpointOut(BaseModel):
    id: str = Field(examples=["ckpt_01jd4x9m6q0000a1b2c3d4e5"])
    object: Literal["job.checkpoint"] = "job.checkpoint"
    job_id: str
    provider_checkpoint_id: str
    step: int
    fine_tuned_model_checkpoint: str
    metrics: dict[str, Any]
    created_at: UTCDateTime

    @classmethod
    def from_row(cls, row: Checkpoint) -> CheckpointOut:
        return cls(id=row.id, job_id=row.job_id, provider_checkpoint_id=row.provider_checkpoint_id, step=row.step,
                   fine_tuned_model_checkpoint=row.fine_tuned_model_checkpoint, metrics=row.metrics or {},
                   created_at=row.created_at)


# --- health --------------------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, Literal["ok", "error", "unknown"]]
    details: dict[str, str] = Field(default_factory=dict)
