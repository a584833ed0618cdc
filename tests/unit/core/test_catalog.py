"""The model catalog: cut-offs, methods, aliases, operator overrides."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from core.catalog import DEFAULT_TOKEN_LIMIT, CatalogError, ModelCatalog


def test_openai_stops_taking_jobs_after_2027_01_06() -> None:
    catalog = ModelCatalog.load()
    catalog.check_can_start("gpt-4o-mini-2024-07-18", today=dt.date(2027, 1, 6))
    with pytest.raises(CatalogError, match="stopped accepting new fine-tuning jobs"):
        catalog.check_can_start("gpt-4o-mini-2024-07-18", today=dt.date(2027, 1, 7))


def test_cutoff_does_not_apply_when_not_enforced() -> None:
    ModelCatalog.load().check_can_start("gpt-4o-2024-08-06", today=dt.date(2030, 1, 1), enforce_cutoff=False)


def test_unknown_model_and_unsupported_method_are_refused_with_reason() -> None:
    catalog = ModelCatalog.load()
    with pytest.raises(CatalogError, match="not fine-tunable"):
        catalog.check_can_start("davinci-9000", today=dt.date(2026, 1, 1))
    with pytest.raises(CatalogError, match="does not support method 'dpo'"):
        catalog.check_can_start("gpt-3.5-turbo", method="dpo", today=dt.date(2026, 1, 1))


def test_aliases_resolve_and_unknown_models_get_cookbook_defaults() -> None:
    catalog = ModelCatalog.load()
    assert catalog.encoding_for("gpt-4o-mini") == "o200k_base"
    assert catalog.encoding_for("gpt-3.5-turbo") == "cl100k_base"
    assert catalog.price_for("gpt-4o") == 25.0
    assert catalog.token_limit_for("unknown-model") == DEFAULT_TOKEN_LIMIT == 16_385


def test_operator_override_replaces_and_extends(tmp_path: Path) -> None:
    override = tmp_path / "catalog.json"
    override.write_text(json.dumps([
        {"provider": "openai", "model": "gpt-4o-mini-2024-07-18", "encoding": "o200k_base",
         "token_limit": 1000, "price_per_million_usd": 1.25, "methods": ["supervised"],
         "last_new_job_day": "2027-01-06", "aliases": ["gpt-4o-mini"]},
        {"provider": "azure", "model": "gpt-4.1-mini", "price_per_million_usd": 5.0},
    ]))
    catalog = ModelCatalog.load(override)
    assert catalog.price_for("gpt-4o-mini") == 1.25
    assert catalog.token_limit_for("gpt-4o-mini") == 1000
    assert catalog.find("gpt-4.1-mini", provider="azure") is not None
    catalog.check_can_start("gpt-4.1-mini", provider="azure", today=dt.date(2030, 1, 1))
