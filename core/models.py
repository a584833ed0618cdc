"""The schema: every row the service keeps. The database is the truth (DESIGN §2).

Every tenant-owned row carries ``tenant_id``; queries go through ``core.scoping`` helpers that
filter on it. Events, transitions and metrics use integer keys so "oldest first, after id N" is
an indexed range scan for clients tailing a job.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Generic, TypedDict, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, validates

from core.evaluation.states import EvaluationStatus
from core.ids import new_id
from core.states import DatasetStatus, DeliveryStatus, JobStatus, SweepStatus

JSONType = JSON().with_variant(JSONB(), "postgresql")
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER only

def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset on its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC datetimes")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, _dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)

E = TypeVar("E", bound=StrEnum)


class StrEnumColumn(TypeDecorator[E], Generic[E]):
    """A status column read and written as its ``StrEnum``, stored as plain ``VARCHAR``.

    No native enum type: nothing to migrate on SQLite or PostgreSQL when a status is added, and the
    column is the same ``String(n)`` Alembic already knows. A value outside the enum is refused on
    write and raises on read, so a typo never reaches the table unnoticed.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: E | str | None, _dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, _dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)


class JobError(TypedDict):
    """Why a job failed, as the API shows it (DESIGN §8: ``error: {code, message, param}``)."""

    code: str | None
    message: str
    param: str | None

def job_error(code: str | None, message: str, param: str | None = None) -> JobError:
    return JobError(code=code, message=message, param=param)


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSONType, list[str]: JSONType}


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("ten"))
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """Only the sha256 of the key is kept; the key itself is shown once, at creation."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("key"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    key_prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    is_admin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Dataset(Base):
    """An uploaded dataset: original bytes and canonical JSONL, both content-addressed on disk."""

    __tablename__ = "datasets"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key", name="uq_datasets_tenant_idempotency"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("ds"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    bytes: Mapped[int] = mapped_column(BigInteger)
    canonical_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    canonical_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    format: Mapped[str] = mapped_column(String(40))
    num_examples: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[DatasetStatus] = mapped_column(StrEnumColumn(DatasetStatus, 20))
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("datasets.id"), default=None)
    split_role: Mapped[str | None] = mapped_column(String(20), default=None)  # train | validation
    idempotency_key: Mapped[str | None] = mapped_column(String(255), default=None)
    request_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @validates("status")
    def _typed_status(self, _: str, value: DatasetStatus | str) -> DatasetStatus:
        return DatasetStatus(value)


class ProviderFile(Base):
    """One upload per (provider, sha256 of the uploaded bytes): a retry reuses it, never pays twice."""

    __tablename__ = "provider_files"
    __table_args__ = (UniqueConstraint("provider", "sha256", name="uq_provider_files_provider_sha256"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("pf"))
    provider: Mapped[str] = mapped_column(String(40))
    sha256: Mapped[str] = mapped_column(String(64))
    provider_file_id: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(500))
    bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key", name="uq_jobs_tenant_idempotency"),
        Index("ix_jobs_status", "status"),
        Index("ix_jobs_tenant_id_id", "tenant_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("job"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(40), default="openai")
    model: Mapped[str] = mapped_column(String(200))
    training_dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"))
    validation_dataset_id: Mapped[str | None] = mapped_column(ForeignKey("datasets.id"), default=None)
    method: Mapped[dict[str, Any]] = mapped_column(default=dict)
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    resolved_hyperparameters: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    suffix: Mapped[str | None] = mapped_column(String(64), default=None)
    seed: Mapped[int | None] = mapped_column(BigInteger, default=None)
    user_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    wandb: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    status: Mapped[JobStatus] = mapped_column(StrEnumColumn(JobStatus, 32), default=JobStatus.PENDING)
    provider_job_id: Mapped[str | None] = mapped_column(String(200), default=None, index=True)
    training_file_id: Mapped[str | None] = mapped_column(String(200), default=None)
    validation_file_id: Mapped[str | None] = mapped_column(String(200), default=None)
    fine_tuned_model: Mapped[str | None] = mapped_column(String(500), default=None)
    error: Mapped[JobError | None] = mapped_column(JSONType, default=None)
    trained_tokens: Mapped[int | None] = mapped_column(BigInteger, default=None)
    estimated_cost_usd: Mapped[float | None] = mapped_column(Float, default=None)
    estimated_finish: Mapped[dt.datetime | None] = mapped_column(default=None)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), default=None)
    request_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    status_changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_synced_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Set by the move to a terminal state when the job is at the provider; cleared once its events,
    # metrics and checkpoints were fetched up to the end. In the row, so a crash keeps the debt.
    final_sync_owed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), index=True)

    @validates("status")
    def _typed_status(self, _: str, value: JobStatus | str) -> JobStatus:
        return JobStatus(value)


    overfitting_step: Mapped[int | None] = mapped_column(Integer, default=None)  # core.overfitting fired here
    sweep_id: Mapped[str | None] = mapped_column(String(40), default=None, index=True)  # a run of this sweep


class JobTransition(Base):
    __tablename__ = "job_transitions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[JobStatus | None] = mapped_column(StrEnumColumn(JobStatus, 32))
    to_status: Mapped[JobStatus] = mapped_column(StrEnumColumn(JobStatus, 32))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(20))  # api | worker | provider | reconciler
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @validates("from_status", "to_status")
    def _typed_status(self, _: str, value: JobStatus | str | None) -> JobStatus | None:
        return None if value is None else JobStatus(value)


class JobEvent(Base):
    __tablename__ = "job_events"
    __table_args__ = (UniqueConstraint("job_id", "provider_event_id", name="uq_job_events_job_provider_event"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    provider_event_id: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(20), default="info")
    type: Mapped[str] = mapped_column(String(40), default="message")
    message: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    created_at: Mapped[dt.datetime] = mapped_column()
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class JobMetric(Base):
    """One point of the loss curve: a step and every metric the provider gave for it."""

    __tablename__ = "job_metrics"
    __table_args__ = (UniqueConstraint("job_id", "step", name="uq_job_metrics_job_step"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    step: Mapped[int] = mapped_column(Integer)
    train_loss: Mapped[float | None] = mapped_column(Float, default=None)
    train_mean_token_accuracy: Mapped[float | None] = mapped_column(Float, default=None)
    valid_loss: Mapped[float | None] = mapped_column(Float, default=None)
    valid_mean_token_accuracy: Mapped[float | None] = mapped_column(Float, default=None)
    full_valid_loss: Mapped[float | None] = mapped_column(Float, default=None)
    full_valid_mean_token_accuracy: Mapped[float | None] = mapped_column(Float, default=None)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Checkpoint(Base):
    __tablename__ = "checkpoints"
    __table_args__ = (
        UniqueConstraint("job_id", "provider_checkpoint_id", name="uq_checkpoints_job_provider_checkpoint"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("ckpt"))
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    provider_checkpoint_id: Mapped[str] = mapped_column(String(200))
    step: Mapped[int] = mapped_column(Integer)
    fine_tuned_model_checkpoint: Mapped[str] = mapped_column(String(500))
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column()


class Webhook(Base):
    """A client's receiver. The signing secret is stored encrypted (``core.crypto``), shown once."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("wh"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSONType, default=list)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class WebhookDelivery(Base):
    """The outbox: one message for one receiver, written in the transaction of the change it announces.

    Its id is the ``webhook-id`` header on every attempt, so receivers can deduplicate retries.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("whd"))
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[DeliveryStatus] = mapped_column(StrEnumColumn(DeliveryStatus, 20), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    @validates("status")
    def _typed_status(self, _: str, value: DeliveryStatus | str) -> DeliveryStatus:
        return DeliveryStatus(value)


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    attempted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class ProviderWebhookReceipt(Base):
    """A provider webhook already acted on, by its ``webhook-id``: a replay inside the signature's
    tolerance window (a valid signature, sent again) is answered 200 and does nothing."""

    __tablename__ = "provider_webhook_receipts"

    webhook_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class Evaluation(Base):
    """Held-out examples asked of one or more models (``targets``), with metrics per model.

    ``targets`` is the resolved list of what is asked (the job's fine-tuned model, its base, other
    jobs or checkpoints, the baseline), each with its key, model name and prices, fixed at creation
    so a run and its resumption ask exactly the same models. ``results`` is recomputed from the
    stored items whenever the run ends (or is cancelled).
    """

    __tablename__ = "evaluations"
    __table_args__ = (
        Index("ix_evaluations_tenant_id_id", "tenant_id", "id"),
        Index("ix_evaluations_status", "status"),
        UniqueConstraint("tenant_id", "idempotency_key", name="uq_evaluations_tenant_idempotency"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("eval"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), default=None, index=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"))
    task: Mapped[str] = mapped_column(String(20))
    status: Mapped[EvaluationStatus] = mapped_column(StrEnumColumn(EvaluationStatus, 20),
                                                     default=EvaluationStatus.QUEUED)
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    targets: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    baseline: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    results: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    best: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), default=None)
    request_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    total_items: Mapped[int] = mapped_column(Integer, default=0)
    completed_items: Mapped[int] = mapped_column(Integer, default=0)
    failed_items: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    estimated_cost_usd: Mapped[float | None] = mapped_column(Float, default=None)
    actual_cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    @validates("status")
    def _typed_status(self, _: str, value: EvaluationStatus | str) -> EvaluationStatus:
        return EvaluationStatus(value)


class EvaluationItem(Base):
    """One held-out example asked of one target: the input, the truth, the raw answer, what was
    read from it and its score — or the error of the call. ``status`` pending → done | failed; a
    resumed run asks only the pending ones."""

    __tablename__ = "evaluation_items"
    __table_args__ = (
        UniqueConstraint("evaluation_id", "example_index", "target_key", name="uq_evaluation_items_example_target"),
        Index("ix_evaluation_items_evaluation_status", "evaluation_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    evaluation_id: Mapped[str] = mapped_column(ForeignKey("evaluations.id", ondelete="CASCADE"))
    tenant_id: Mapped[str] = mapped_column(String(40))
    example_index: Mapped[int] = mapped_column(Integer)
    target_key: Mapped[str] = mapped_column(String(200))
    input: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    truth: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    answer: Mapped[str | None] = mapped_column(Text, default=None)
    parsed: Mapped[Any] = mapped_column(JSONType, nullable=True, default=None)
    score: Mapped[float | None] = mapped_column(Float, default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    completion_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    cost_usd: Mapped[float | None] = mapped_column(Float, default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Sweep(Base):
    """A grid of hyperparameters run as ordinary jobs (``Job.sweep_id``), at most ``max_parallel``
    of them between ``pending`` and a terminal state at once, under a budget checked up front.
    ``points`` is the grid in run order, each with the job id once its run exists."""

    __tablename__ = "sweeps"
    __table_args__ = (Index("ix_sweeps_tenant_id_id", "tenant_id", "id"), Index("ix_sweeps_status", "status"),
                      UniqueConstraint("tenant_id", "idempotency_key", name="uq_sweeps_tenant_idempotency"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("sweep"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    status: Mapped[SweepStatus] = mapped_column(StrEnumColumn(SweepStatus, 20), default=SweepStatus.RUNNING)
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    points: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    max_parallel: Mapped[int] = mapped_column(Integer, default=1)
    budget_usd: Mapped[float | None] = mapped_column(Float, default=None)
    estimated_cost_usd: Mapped[float | None] = mapped_column(Float, default=None)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), default=None)
    request_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    @validates("status")
    def _typed_status(self, _: str, value: SweepStatus | str) -> SweepStatus:
        return SweepStatus(value)
