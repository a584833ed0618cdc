"""Epochs, billed tokens and the estimated training cost, as OpenAI's cookbook computes them.

The epoch heuristic is the one the cookbook (and OpenAI's ``"auto"``) uses: aim for 3 epochs, but
see at least 100 and at most 25,000 examples in total. Prices come from the model catalog, which
an operator can override (``FINETUNER_MODEL_CATALOG_PATH``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from core.catalog import DEFAULT_TOKEN_LIMIT, ModelCatalog, ModelEntry

CATALOG_PATH_ENV = "FINETUNER_MODEL_CATALOG_PATH"

TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25


def default_epochs(n_examples: int) -> int:
    """The cookbook's ``n_epochs`` for a dataset of this size (0 for an empty dataset)."""
    if n_examples <= 0:
        return 0
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    if n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return TARGET_EPOCHS


def billed_tokens(tokens_per_example: Iterable[int], token_limit: int = DEFAULT_TOKEN_LIMIT) -> int:
    """OpenAI truncates an example at the limit, so it never bills more than the limit for one."""
    return sum(min(token_limit, n) for n in tokens_per_example)


def estimated_cost_usd(charged_tokens: int, price_per_million_usd: float | None) -> float | None:
    """Dollars for ``charged_tokens`` training tokens; None when the model's price is unknown."""
    if price_per_million_usd is None:
        return None
    return round(charged_tokens * price_per_million_usd / 1_000_000, 6)


@dataclass(frozen=True)
class Target:
    """What the counts are for: tokenizer, per-example limit and price, resolved once per run."""

    encoding: str
    token_limit: int
    price_per_million_usd: float | None
    model: str | None = None
    known_model: bool = True  # False: ``model`` is not in the catalog and the defaults above were assumed
    # "estimated": ``encoding`` stands in for a tokenizer we have no offline vocabulary of (Together's
    # open models, or a model the catalog does not know), so counts and cost are approximate.
    token_count_method: str = "exact"


def resolve_target(
    model: str | None = None, encoding: str | None = None, *, catalog: ModelCatalog | None = None,
    provider: str = "openai",
) -> Target:
    """Model → encoding, limit and price from the catalog; an explicit encoding wins.

    With neither, counts use ``o200k_base`` (today's fine-tunable models) and the cookbook's limit.
    """
    if catalog is None:
        catalog = load_catalog()
    entry = _find_anywhere(catalog, model, provider) if model else None
    if entry is None:
        return Target(encoding=encoding or catalog.encoding_for(None), token_limit=catalog.token_limit_for(None),
                      price_per_million_usd=None, model=model, known_model=model is None,
                      token_count_method="exact" if model is None else "estimated")
    return Target(encoding=encoding or entry.encoding, token_limit=entry.token_limit,
                  price_per_million_usd=entry.price_per_million_usd, model=model, known_model=True,
                  token_count_method=entry.token_count_method)


def _find_anywhere(catalog: ModelCatalog, model: str, provider: str) -> ModelEntry | None:
    """The model under ``provider``, else under whichever provider lists it: an upload names a model,
    not a provider, and model names do not collide across providers (Azure's are OpenAI's)."""
    entry = catalog.find(model, provider)
    if entry is not None:
        return entry
    for other in sorted({e.provider for e in catalog.entries()} - {provider}):
        if (entry := catalog.find(model, other)) is not None:
            return entry
    return None


def load_catalog() -> ModelCatalog:
    """The built-in catalog plus the operator's override file, when one is configured.

    Settings (pydantic-settings, ~0.1 s to import) are read only when the override variable is set:
    without it there is nothing to override, and ``finetuner validate`` on a small file starts faster."""
    if not any(name.upper() == CATALOG_PATH_ENV for name in os.environ):
        return ModelCatalog.load(None)
    from core.config import get_settings

    override: Path | None = get_settings().model_catalog_path
    return ModelCatalog.load(override)
