"""Typed results, shared by the blocking and the async client.

They mirror the API's responses but accept fields the client does not know yet (``extra="allow"``),
so an older client keeps working against a newer server.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JobStatus = Literal["pending", "uploading", "submitting", "validating_files", "queued", "running", "paused",
                    "cancelling", "succeeded", "failed", "cancelled"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class JobError(_Model):
    code: str | None = None
    message: str = ""
    param: str | None = None


class Serving(_Model):
    """How a job's model can be called: ``serverless`` now, or only after you deploy an endpoint."""

    mode: str
    model: str
    endpoint_required: bool
    how: str


class Job(_Model):
    id: str
    status: JobStatus
    model: str
    provider: str | None = None
    provider_job_id: str | None = None
    method: dict[str, Any] = Field(default_factory=dict)
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    resolved_hyperparameters: dict[str, Any] | None = None
    training_dataset_id: str
    validation_dataset_id: str | None = None
    suffix: str | None = None
    seed: int | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    wandb: dict[str, Any] | None = None
    fine_tuned_model: str | None = None
    serving: Serving | None = None
    error: JobError | None = None
    trained_tokens: int | None = None
    estimated_cost_usd: float | None = None
    estimated_finish: dt.datetime | None = None
    created_at: dt.datetime
    updated_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_STATUSES


class Dataset(_Model):
    id: str
    name: str
    status: Literal["valid", "invalid"]
    format: str
    num_examples: int
    sha256: str
    bytes: int
    report: dict[str, Any] = Field(default_factory=dict)
    created_at: dt.datetime


class Transition(_Model):
    id: str
    job_id: str
    from_status: str | None = None
    to_status: str
    reason: str = ""
    actor: str = ""
    at: dt.datetime


class Event(_Model):
    id: str
    job_id: str
    level: str = "info"
    type: str = "message"
    message: str = ""
    data: dict[str, Any] | None = None
    created_at: dt.datetime


class MetricPoint(_Model):
    id: str | None = None
    step: int
    train_loss: float | None = None
    train_mean_token_accuracy: float | None = None
    valid_loss: float | None = None
    valid_mean_token_accuracy: float | None = None
    full_valid_loss: float | None = None
    full_valid_mean_token_accuracy: float | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def total_steps(self) -> int | None:
        value = self.data.get("total_steps")
        return value if isinstance(value, int) else None


class Checkpoint(_Model):
    id: str
    job_id: str
    step: int
    fine_tuned_model_checkpoint: str
    metrics: dict[str, Any] = Field(default_factory=dict)
    created_at: dt.datetime


class StreamMessage(_Model):
    """One server-sent event of ``/v1/jobs/{id}/stream``: ``event`` names the kind, ``data`` its object."""

    id: str | None = None
    event: str
    data: dict[str, Any]


class Series(_Model):
    steps: list[int]
    values: list[float]
    total_points: int


class MetricSeries(_Model):
    """``metrics(job_id, max_points=N)``: each series on its own, at most N points, its min, max and last kept."""

    job_id: str
    max_points: int
    total_points: int
    series: dict[str, Series]


EvaluationStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class Evaluation(_Model):
    """``evaluate(...)``: a held-out evaluation of a job's model (and what it is compared with).

    ``results`` holds, per target key (``fine_tuned``, ``base``, ``baseline``, a checkpoint id...),
    the metrics, the parse rate, counts, tokens and cost; ``best`` names the best target when ranked.
    """

    id: str
    status: EvaluationStatus
    job_id: str | None = None
    dataset_id: str
    task: str
    targets: list[dict[str, Any]] = Field(default_factory=list)
    baseline: dict[str, Any] | None = None
    results: dict[str, Any] | None = None
    best: dict[str, Any] | None = None
    progress: dict[str, int] = Field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated_cost_usd: float | None = None
    actual_cost_usd: float = 0.0
    error: dict[str, Any] | None = None
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_STATUSES


class LossSummary(_Model):
    """One loss curve in a comparison: its last value and its lowest, each with its step."""

    final: float | None = None
    final_step: int | None = None
    best: float | None = None
    best_step: int | None = None


class ComparedJob(_Model):
    """One run of ``compare(...)``: what it was, what it cost, how its losses went, its newest evaluation."""

    job_id: str
    status: JobStatus
    model: str
    fine_tuned_model: str | None = None
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    resolved_hyperparameters: dict[str, Any] | None = None
    trained_tokens: int | None = None
    cost_usd: float | None = None
    estimated_cost_usd: float | None = None
    duration_seconds: float | None = None
    train_loss: LossSummary = Field(default_factory=LossSummary)
    valid_loss: LossSummary = Field(default_factory=LossSummary)
    overfitting_step: int | None = None
    evaluation: dict[str, Any] | None = None
