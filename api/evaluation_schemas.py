"""Request and response models of ``/v1/evaluations`` (and ``POST /v1/jobs/{id}/evaluations``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import UTCDateTime
from core.evaluation.service import EvaluationRequest
from core.models import Evaluation, EvaluationItem

EVALUATION_ITEM_PREFIX = "evi"
CompareWith = Annotated[str, Field(min_length=1, max_length=500, examples=["base", "baseline", "job_…", "ckpt_…"])]


class EvaluationCreate(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    dataset_id: Annotated[str, Field(min_length=1, max_length=40, description="The held-out (test) dataset")]
    task: Literal["number", "label", "text", "json"]
    metrics: list[Annotated[str, Field(max_length=40)]] | None = Field(
        default=None, max_length=10, description="A subset of the task's metrics (default: all)")
    compare_with: list[CompareWith] = Field(
        default_factory=list, max_length=20,
        description="'base', 'baseline', job ids, checkpoint ids, your ft: models or catalog models; "
                    "the baseline is always reported")
    models: Literal["checkpoints"] | None = Field(default=None, description="'checkpoints': also every checkpoint")
    rank_by: Annotated[str, Field(max_length=40)] | None = Field(
        default=None, description="The metric that names the best model or checkpoint (default per task)")
    max_examples: Annotated[int, Field(ge=1, le=100_000)] | None = None
    concurrency: Annotated[int, Field(ge=1, le=64)] = 4
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.0
    seed: Annotated[int, Field(ge=0, le=2_147_483_647)] | None = None
    max_tokens: Annotated[int, Field(ge=1, le=100_000)] | None = None
    max_cost_usd: Annotated[float, Field(ge=0)] | None = None
    endpoint: Annotated[str, Field(min_length=1, max_length=300)] | None = Field(
        default=None, description="The dedicated endpoint (Together) or deployment (Azure) you started for the job's "
                                  "model, when its serving says endpoint_required; the service never starts one")
    within_pct: Annotated[float, Field(gt=0, le=1000)] = Field(
        default=10.0, description="number task: the X of 'share of answers within X % of the truth'")

    def to_request(self) -> EvaluationRequest:
        return EvaluationRequest(
            dataset_id=self.dataset_id, task=self.task, metrics=self.metrics, compare_with=list(self.compare_with),
            models=self.models, rank_by=self.rank_by, max_examples=self.max_examples, concurrency=self.concurrency,
            temperature=self.temperature, seed=self.seed, max_tokens=self.max_tokens, max_cost_usd=self.max_cost_usd,
            within_pct=self.within_pct, endpoint=self.endpoint)


class EvaluationOut(BaseModel):
    id: str = Field(examples=["eval_01m8584q7x00axe6tmxbdv9m"])
    object: Literal["evaluation"] = "evaluation"
    job_id: str | None
    dataset_id: str
    task: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    targets: list[dict[str, Any]] = Field(description="What is asked: key, kind, model, prices per 1M tokens")
    baseline: dict[str, Any] | None
    results: dict[str, Any] | None = Field(description="Per target key: metrics, parse rate, counts, tokens, cost")
    best: dict[str, Any] | None
    progress: dict[str, int]
    prompt_tokens: int
    completion_tokens: int
    estimated_cost_usd: float | None
    actual_cost_usd: float
    estimate: dict[str, Any] | None
    spec: dict[str, Any]
    error: dict[str, Any] | None
    created_at: UTCDateTime
    started_at: UTCDateTime | None
    finished_at: UTCDateTime | None

    @classmethod
    def from_row(cls, row: Evaluation) -> EvaluationOut:
        spec = {k: v for k, v in row.spec.items() if k not in ("estimate", "labels", "provider")}
        return cls(
            id=row.id, job_id=row.job_id, dataset_id=row.dataset_id, task=row.task,
            status=row.status,
            targets=row.targets, baseline=row.baseline, results=row.results, best=row.best,
            progress={"completed": row.completed_items, "total": row.total_items, "failed": row.failed_items},
            prompt_tokens=row.prompt_tokens, completion_tokens=row.completion_tokens,
            estimated_cost_usd=row.estimated_cost_usd, actual_cost_usd=round(row.actual_cost_usd, 6),
            estimate=row.spec.get("estimate"), spec=spec, error=row.error, created_at=row.created_at,
            started_at=row.started_at, finished_at=row.finished_at,
        )


class AnswerOut(BaseModel):
    status: Literal["pending", "done", "failed"]
    model: str | None
    answer: str | None
    parsed: Any = None
    score: float | None
    error: dict[str, Any] | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None


class EvaluationItemOut(BaseModel):
    id: str = Field(examples=["evi_0"], description="evi_<example index>; the `after` cursor")
    object: Literal["evaluation.item"] = "evaluation.item"
    index: int
    input: list[dict[str, Any]]
    truth: str
    answers: dict[str, AnswerOut] = Field(description="Per target key")

    @classmethod
    def from_rows(cls, index: int, rows: list[EvaluationItem], models: dict[str, str | None]) -> EvaluationItemOut:
        first = rows[0]
        return cls(id=f"{EVALUATION_ITEM_PREFIX}_{index}", index=index, input=first.input, truth=first.truth,
                   answers={r.target_key: AnswerOut(
                       status=r.status,
                       model=models.get(r.target_key), answer=r.answer, parsed=r.parsed,
                       score=r.score, error=r.error, prompt_tokens=r.prompt_tokens,
                       completion_tokens=r.completion_tokens, cost_usd=r.cost_usd) for r in rows})
