"""The model catalog: one table saying what each provider's base models allow and cost.

Operators override or extend it with a JSON file (``FINETUNER_MODEL_CATALOG_PATH``): a list of
entries with the fields of :class:`ModelEntry`; an entry with the same (provider, model) replaces
the built-in one. Prices are the publicly seen training prices, not OpenAI's own price page.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

OPENAI_LAST_NEW_JOB_DAY = dt.date(2027, 1, 6)
DEFAULT_TOKEN_LIMIT = 16_385  # the cookbook's limit when the model is unknown


@dataclass(frozen=True)
class ModelEntry:
    provider: str
    model: str
    encoding: str
    token_limit: int
    price_per_million_usd: float | None
    methods: tuple[str, ...] = ("supervised",)
    last_new_job_day: dt.date | None = None
    aliases: tuple[str, ...] = field(default_factory=tuple)
    # Together: LoRA and/or full fine-tuning, the full-training price when it differs, and whether a
    # LoRA result is served serverless (callable at once) or needs a dedicated endpoint (billed per
    # minute, started by the user: the service never starts one on its own).
    training_types: tuple[str, ...] = ()
    full_price_per_million_usd: float | None = None
    serverless_lora: bool | None = None
    token_count_method: str = "exact"  # "estimated" when no offline vocabulary matches the model
    # Inference (chat) prices per 1M tokens: what an evaluation pays to ask the base model, and a
    # model fine-tuned from it (OpenAI bills fine-tuned inference higher than the base's).
    input_price_per_million_usd: float | None = None
    output_price_per_million_usd: float | None = None
    ft_input_price_per_million_usd: float | None = None
    ft_output_price_per_million_usd: float | None = None

    def inference_prices(self, *, fine_tuned: bool) -> tuple[float | None, float | None]:
        """(input, output) USD per 1M tokens for asking this model (or one fine-tuned from it)."""
        if fine_tuned:
            return self.ft_input_price_per_million_usd, self.ft_output_price_per_million_usd
        return self.input_price_per_million_usd, self.output_price_per_million_usd


_OPENAI = OPENAI_LAST_NEW_JOB_DAY
BUILTIN: tuple[ModelEntry, ...] = (
    ModelEntry("openai", "gpt-4o-mini-2024-07-18", "o200k_base", 65_536, 3.00,
               ("supervised", "dpo"), _OPENAI, ("gpt-4o-mini",)),
    ModelEntry("openai", "gpt-4o-2024-08-06", "o200k_base", 65_536, 25.00,
               ("supervised", "dpo"), _OPENAI, ("gpt-4o",)),
    ModelEntry("openai", "gpt-4.1-2025-04-14", "o200k_base", 65_536, 25.00,
               ("supervised", "dpo"), _OPENAI, ("gpt-4.1",)),
    ModelEntry("openai", "gpt-4.1-mini-2025-04-14", "o200k_base", 65_536, 5.00,
               ("supervised", "dpo"), _OPENAI, ("gpt-4.1-mini",)),
    ModelEntry("openai", "gpt-4.1-nano-2025-04-14", "o200k_base", 65_536, 1.50,
               ("supervised", "dpo"), _OPENAI, ("gpt-4.1-nano",)),
    ModelEntry("openai", "gpt-3.5-turbo-0125", "cl100k_base", 16_385, 8.00,
               ("supervised",), _OPENAI, ("gpt-3.5-turbo",)),
)


# Public per-1M-token chat prices: (base input, base output, fine-tuned input, fine-tuned output).
INFERENCE_PRICES: dict[str, tuple[float, float, float, float]] = {
    "gpt-4o-mini-2024-07-18": (0.15, 0.60, 0.30, 1.20),
    "gpt-4o-2024-08-06": (2.50, 10.00, 3.75, 15.00),
    "gpt-4.1-2025-04-14": (2.00, 8.00, 3.00, 12.00),
    "gpt-4.1-mini-2025-04-14": (0.40, 1.60, 0.80, 3.20),
    "gpt-4.1-nano-2025-04-14": (0.10, 0.40, 0.20, 0.80),
    "gpt-3.5-turbo-0125": (0.50, 1.50, 3.00, 6.00),
}
BUILTIN = tuple(
    replace(entry, input_price_per_million_usd=prices[0], output_price_per_million_usd=prices[1],
            ft_input_price_per_million_usd=prices[2], ft_output_price_per_million_usd=prices[3])
    if (prices := INFERENCE_PRICES.get(entry.model)) else entry
    for entry in BUILTIN
)

# Azure OpenAI (AI Foundry) keeps fine-tuning the same families through the same API shape after
# OpenAI's self-serve cut-off; its deployments carry their own dates, which operators add here.
BUILTIN = BUILTIN + tuple(replace(entry, provider="azure", last_new_job_day=None) for entry in BUILTIN
                          if not entry.model.startswith("gpt-3.5"))


# Together AI: a starting set of fine-tunable open-weight models, with the per-1M-token training prices
# of its published tiers (LoRA; full in ``full_price_per_million_usd``). Their tokenizers ship no
# offline vocabulary here, so counts use cl100k_base and say "estimated". No cut-off is known.
_LLAMA = "meta-llama/"
TOGETHER: tuple[ModelEntry, ...] = (
    ModelEntry("together", _LLAMA + "Meta-Llama-3.1-8B-Instruct-Reference", "cl100k_base", 131_072, 0.48,
               ("supervised", "dpo"), None, (), ("lora", "full"), 0.54, True, "estimated"),
    ModelEntry("together", _LLAMA + "Meta-Llama-3.1-70B-Instruct-Reference", "cl100k_base", 131_072, 2.90,
               ("supervised", "dpo"), None, (), ("lora", "full"), 3.20, False, "estimated"),
    ModelEntry("together", _LLAMA + "Llama-3.3-70B-Instruct-Reference", "cl100k_base", 131_072, 2.90,
               ("supervised", "dpo"), None, (), ("lora", "full"), 3.20, False, "estimated"),
    ModelEntry("together", "Qwen/Qwen2.5-7B-Instruct", "cl100k_base", 32_768, 0.48,
               ("supervised", "dpo"), None, (), ("lora", "full"), 0.54, True, "estimated"),
    ModelEntry("together", "Qwen/Qwen2.5-72B-Instruct", "cl100k_base", 32_768, 2.90,
               ("supervised", "dpo"), None, (), ("lora",), None, False, "estimated"),
    ModelEntry("together", "mistralai/Mistral-7B-Instruct-v0.2", "cl100k_base", 32_768, 0.48,
               ("supervised", "dpo"), None, (), ("lora", "full"), 0.54, True, "estimated"),
)
BUILTIN = BUILTIN + TOGETHER


def providers_open_on(entries: list[ModelEntry], day: dt.date) -> list[str]:
    """Providers with at least one model still taking new jobs on ``day`` (for the cut-off message)."""
    return sorted({e.provider for e in entries if e.last_new_job_day is None or day <= e.last_new_job_day})


class CatalogError(ValueError):
    """A model cannot be used: unknown, closed for new jobs, or not for the method asked."""


def _entry_from_json(raw: dict[str, object]) -> ModelEntry:
    day = raw.get("last_new_job_day")
    return ModelEntry(
        provider=str(raw["provider"]),
        model=str(raw["model"]),
        encoding=str(raw.get("encoding", "o200k_base")),
        token_limit=int(str(raw.get("token_limit", DEFAULT_TOKEN_LIMIT))),
        price_per_million_usd=(
            float(str(raw["price_per_million_usd"])) if raw.get("price_per_million_usd") is not None else None
        ),
        methods=tuple(str(m) for m in raw.get("methods", ["supervised"])),  # type: ignore[attr-defined]
        last_new_job_day=dt.date.fromisoformat(str(day)) if day else None,
        aliases=tuple(str(a) for a in raw.get("aliases", [])),  # type: ignore[attr-defined]
        **{name: _price(raw, name) for name in _INFERENCE_PRICE_FIELDS},
        training_types=tuple(str(t) for t in raw.get("training_types", [])),  # type: ignore[attr-defined]
        full_price_per_million_usd=(
            float(str(raw["full_price_per_million_usd"])) if raw.get("full_price_per_million_usd") is not None
            else None
        ),
        serverless_lora=bool(raw["serverless_lora"]) if raw.get("serverless_lora") is not None else None,
        token_count_method=str(raw.get("token_count_method", "exact")),
    )


_INFERENCE_PRICE_FIELDS = ("input_price_per_million_usd", "output_price_per_million_usd",
                           "ft_input_price_per_million_usd", "ft_output_price_per_million_usd")


def _price(raw: dict[str, object], name: str) -> float | None:
    value = raw.get(name)
    return float(str(value)) if value is not None else None


class ModelCatalog:
    def __init__(self, entries: tuple[ModelEntry, ...] | list[ModelEntry] = BUILTIN) -> None:
        self._by_key: dict[tuple[str, str], ModelEntry] = {}
        for entry in entries:
            self._by_key[(entry.provider, entry.model)] = entry

    @classmethod
    def load(cls, override_path: Path | None = None) -> ModelCatalog:
        catalog = cls(BUILTIN)
        if override_path is not None:
            for raw in json.loads(Path(override_path).read_text(encoding="utf-8")):
                entry = _entry_from_json(raw)
                catalog._by_key[(entry.provider, entry.model)] = entry
        return catalog

    def entries(self) -> list[ModelEntry]:
        return list(self._by_key.values())

    def find(self, model: str, provider: str = "openai") -> ModelEntry | None:
        """Look up by snapshot name or alias; the returned entry carries the name asked for."""
        entry = self._by_key.get((provider, model))
        if entry is not None:
            return entry
        for candidate in self._by_key.values():
            if candidate.provider == provider and model in candidate.aliases:
                return replace(candidate, model=model)
        return None

    def encoding_for(self, model: str | None, provider: str = "openai") -> str:
        entry = self.find(model, provider) if model else None
        return entry.encoding if entry else "o200k_base"

    def token_limit_for(self, model: str | None, provider: str = "openai") -> int:
        entry = self.find(model, provider) if model else None
        return entry.token_limit if entry else DEFAULT_TOKEN_LIMIT

    def price_for(self, model: str | None, provider: str = "openai") -> float | None:
        entry = self.find(model, provider) if model else None
        return entry.price_per_million_usd if entry else None

    def check_can_start(
        self, model: str, *, provider: str = "openai", method: str = "supervised",
        today: dt.date | None = None, enforce_cutoff: bool = True,
    ) -> ModelEntry:
        """Refuse a job the provider would refuse. Cut-offs apply only to real provider endpoints."""
        entry = self.find(model, provider)
        if entry is None:
            known = ", ".join(sorted(e.model for e in self._by_key.values() if e.provider == provider))
            raise CatalogError(f"model {model!r} is not fine-tunable on provider {provider!r}; known: {known}")
        if method not in entry.methods:
            raise CatalogError(f"model {model!r} does not support method {method!r} (supports {entry.methods})")
        today = today or dt.datetime.now(dt.UTC).date()
        if enforce_cutoff and entry.last_new_job_day is not None and today > entry.last_new_job_day:
            remaining = [p for p in providers_open_on(self.entries(), today) if p != provider]
            raise CatalogError(
                f"provider {provider!r} stopped accepting new fine-tuning jobs for {model!r} "
                f"after {entry.last_new_job_day.isoformat()}; providers still taking new jobs: "
                f"{', '.join(remaining) or 'none'} (set \"provider\" on the job)"
            )
        return entry
