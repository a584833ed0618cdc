"""Epochs, billing and cost: the cookbook's heuristic and the catalog's (overridable) prices."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from core.catalog import ModelCatalog
from core.config import get_settings
from core.datasets.cost import billed_tokens, default_epochs, estimated_cost_usd, load_catalog, resolve_target
from core.datasets.validate import validate_file


@pytest.mark.parametrize(("n", "epochs"), [
    (0, 0), (1, 25), (3, 25), (5, 20), (10, 10), (33, 3), (34, 3), (100, 3), (8333, 3), (8334, 2),
    (12_501, 1), (100_000, 1),
])
def test_epoch_heuristic_matches_the_cookbook(n: int, epochs: int) -> None:
    assert default_epochs(n) == epochs


def test_each_example_is_billed_at_most_the_limit() -> None:
    assert billed_tokens([10, 20_000, 16_385], 16_385) == 10 + 16_385 + 16_385


@pytest.mark.parametrize(("model", "price"), [("gpt-4o-mini", 3.00), ("gpt-4o", 25.00), ("gpt-3.5-turbo", 8.00)])
def test_public_training_prices(model: str, price: float) -> None:
    target = resolve_target(model, catalog=ModelCatalog.load())
    assert target.price_per_million_usd == price
    assert estimated_cost_usd(2_000_000, target.price_per_million_usd) == 2 * price


def test_unknown_model_uses_cookbook_limit_and_has_no_price() -> None:
    target = resolve_target("my-own-model", catalog=ModelCatalog.load())
    assert (target.token_limit, target.price_per_million_usd, target.encoding) == (16_385, None, "o200k_base")
    assert estimated_cost_usd(1000, None) is None


def test_model_sets_encoding_limit_and_cost_of_a_report(drone_path: Path) -> None:
    report = validate_file(drone_path, model="gpt-3.5-turbo")
    assert (report.encoding, report.token_limit, report.price_per_million_usd) == ("cl100k_base", 16_385, 8.0)
    assert report.charged_tokens == report.n_epochs * report.billed_tokens
    assert report.estimated_cost_usd == round(report.charged_tokens * 8.0 / 1e6, 6)


def test_explicit_encoding_wins_over_the_models(drone_path: Path) -> None:
    report = validate_file(drone_path, model="gpt-4o-mini", encoding="cl100k_base")
    assert (report.encoding, report.token_limit, report.price_per_million_usd) == ("cl100k_base", 65_536, 3.0)


def test_operator_price_override_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         write_file: Callable[[bytes, str], Path], drone_path: Path) -> None:
    override = tmp_path / "catalog.json"
    override.write_text(json.dumps([{"provider": "openai", "model": "gpt-4o-mini-2024-07-18", "encoding": "o200k_base",
                                     "token_limit": 500, "price_per_million_usd": 1.0, "aliases": ["gpt-4o-mini"]}]))
    monkeypatch.setenv("FINETUNER_MODEL_CATALOG_PATH", str(override))
    get_settings.cache_clear()
    try:
        assert load_catalog().price_for("gpt-4o-mini") == 1.0
        report = validate_file(drone_path, model="gpt-4o-mini")
    finally:
        monkeypatch.delenv("FINETUNER_MODEL_CATALOG_PATH")
        get_settings.cache_clear()
    assert report.token_limit == 500 and report.n_over_token_limit == 103
    assert report.billed_tokens == 103 * 500
    assert report.estimated_cost_usd == round(report.charged_tokens / 1e6, 6)
    warning = report.warning("over_token_limit")
    assert warning is not None and warning.count == 103


def test_a_together_model_counts_are_marked_estimated_and_name_the_encoding_used(drone_path: Path) -> None:
    llama = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"  # no offline vocabulary of Llama's tokenizer here
    report = validate_file(drone_path, model=llama)
    assert (report.token_count_method, report.encoding) == ("estimated", "cl100k_base")
    assert (report.token_limit, report.price_per_million_usd) == (131_072, 0.48), "limits and price from the catalog"
    assert not [w for w in report.warnings if w.code == "unknown_model"], "a Together model is a known model"
    assert validate_file(drone_path, model="gpt-4o-mini").token_count_method == "exact"
    assert validate_file(drone_path, model="my-own-model").token_count_method == "estimated"
    assert validate_file(drone_path).token_count_method == "exact"
