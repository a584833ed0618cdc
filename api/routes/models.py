"""``GET /v1/models``: the model catalog, so a client can choose a provider and model without reading code."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import CatalogDep, TenantDep
from api.errors import COMMON_ERRORS
from core.catalog import ModelEntry

router = APIRouter(prefix="/v1/models", tags=["models"], responses=COMMON_ERRORS)


class ModelOut(BaseModel):
    object: Literal["model"] = "model"
    provider: str
    model: str
    aliases: list[str]
    methods: list[str] = Field(description="supervised, dpo")
    training_types: list[str] = Field(description="Together: lora and/or full; empty where the provider has no choice")
    token_limit: int = Field(description="per-example token limit")
    encoding: str
    token_count_method: Literal["exact", "estimated"] = Field(
        description="exact when the model's own vocabulary is available offline, else estimated with `encoding`")
    price_per_million_usd: float | None = Field(description="training price per 1M tokens (LoRA on Together)")
    full_price_per_million_usd: float | None
    serverless_lora: bool | None = Field(
        description="Together: a LoRA result is callable at once (true) or needs a dedicated endpoint (false)")
    last_new_job_day: str | None = Field(description="the provider's cut-off for new jobs (ISO date), if any")

    @classmethod
    def from_entry(cls, entry: ModelEntry) -> ModelOut:
        return cls(provider=entry.provider, model=entry.model, aliases=list(entry.aliases),
                   methods=list(entry.methods), training_types=list(entry.training_types),
                   token_limit=entry.token_limit, encoding=entry.encoding,
                   token_count_method="estimated" if entry.token_count_method == "estimated" else "exact",
                   price_per_million_usd=entry.price_per_million_usd,
                   full_price_per_million_usd=entry.full_price_per_million_usd, serverless_lora=entry.serverless_lora,
                   last_new_job_day=entry.last_new_job_day.isoformat() if entry.last_new_job_day else None)


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]
    has_more: bool = False


@router.get("", response_model=ModelList, summary="The fine-tunable models, by provider")
def list_models(catalog: CatalogDep, tenant: TenantDep,
                provider: Annotated[Literal["openai", "azure", "together"] | None, Query()] = None) -> ModelList:
    del tenant  # the catalog is the same for every tenant; the key is still required
    entries = [e for e in catalog.entries() if provider is None or e.provider == provider]
    return ModelList(data=[ModelOut.from_entry(e) for e in sorted(entries, key=lambda e: (e.provider, e.model))])
