"""Figures match OpenAI's cookbook notebook on its own toy file, and real tool-call data passes.

The pinned numbers are what the cookbook prints for toy_chat_fine_tuning.jsonl with cl100k_base.
"""

from __future__ import annotations

from pathlib import Path

from core.datasets.report import COOKBOOK_ERROR_CODES, DatasetReport
from core.datasets.validate import validate_file


def _toy(toy_path: Path) -> DatasetReport:
    return validate_file(toy_path, encoding="cl100k_base")


def test_toy_file_has_no_cookbook_errors_but_is_too_small_to_train(toy_path: Path) -> None:
    report = _toy(toy_path)
    assert report.num_examples == 5
    assert {code: report.error_counts[code] for code in COOKBOOK_ERROR_CODES} == dict.fromkeys(COOKBOOK_ERROR_CODES, 0)
    assert not report.valid
    assert {code for code, n in report.error_counts.items() if n} == {"too_few_examples"}


def test_toy_file_token_figures_match_the_cookbook(toy_path: Path) -> None:
    report = _toy(toy_path)
    stats = report.stats
    assert (stats.n_missing_system, stats.n_missing_user) == (1, 1)
    total = stats.total_tokens_per_example
    assert total is not None
    assert (total.min, total.max, total.mean, total.median) == (26, 8032, 1648.4, 45)
    assistant = stats.assistant_tokens_per_example
    assert assistant is not None
    assert (assistant.min, assistant.max) == (4, 8000)
    messages = stats.messages_per_example
    assert messages is not None
    assert (messages.min, messages.max) == (2, 9)


def test_toy_file_billing_matches_the_cookbook(toy_path: Path) -> None:
    report = _toy(toy_path)
    assert report.token_limit == 16_385
    assert report.n_over_token_limit == 0
    assert report.billed_tokens == 8242
    assert report.n_epochs == 20
    assert report.charged_tokens == 164_840


def test_toy_file_warns_about_its_one_example_without_system_message(toy_path: Path) -> None:
    warning = _toy(toy_path).warning("missing_system_message")
    assert warning is not None and warning.lines == [3]


def test_drone_tool_call_file_is_valid_chat_with_no_false_errors(drone_path: Path) -> None:
    report = validate_file(drone_path, model="gpt-4o-mini")
    assert report.valid, report.errors
    assert report.format == "chat"
    assert report.num_examples == 103
    assert sum(report.error_counts.values()) == 0
    assert report.warnings == []
    assert report.encoding == "o200k_base" and report.token_limit == 65_536


def test_drone_counts_tools_and_tool_calls_as_compact_json(drone_path: Path) -> None:
    report = validate_file(drone_path, encoding="cl100k_base")
    assistant = report.stats.assistant_tokens_per_example
    assert assistant is not None and assistant.min > 0, "tool calls are what the assistant learns to write"
    total = report.stats.total_tokens_per_example
    assert total is not None and total.min > 500, "the tools list on every line is counted"


def test_report_is_json_serialisable_and_round_trips(toy_path: Path) -> None:
    report = _toy(toy_path)
    assert DatasetReport.model_validate_json(report.model_dump_json()) == report
