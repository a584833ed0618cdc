"""Every corpus file gets its expected outcome from the validator (the CLI and API reuse the corpus)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from core.datasets.validate import validate_file
from tests.unit.datasets.corpus import EXPECTED_WARNINGS, CorpusCase, cases

CASES = cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_file_gets_its_expected_outcome(case: CorpusCase, write_file: Callable[[bytes, str], Path]) -> None:
    report = validate_file(write_file(case.content, case.name))
    if case.expected_code is None:
        assert report.valid, f"{case.name} should be accepted; got {report.errors[:3]}"
        if case.name in EXPECTED_WARNINGS:
            assert report.warning(EXPECTED_WARNINGS[case.name]) is not None, report.warnings
        return
    assert not report.valid
    first = report.errors[0]
    assert (first.code, first.line) == (case.expected_code, case.expected_line), report.errors[:3]
    assert report.error_counts[case.expected_code] >= 1


def test_json_array_message_says_to_write_one_object_per_line(write_file: Callable[[bytes, str], Path]) -> None:
    case = next(c for c in CASES if c.name == "json_array")
    message = validate_file(write_file(case.content, "a.json")).errors[0].message
    assert "one JSON object per line" in message


def test_a_five_megabyte_line_is_counted_over_the_limit(write_file: Callable[[bytes, str], Path]) -> None:
    case = next(c for c in CASES if c.name == "five_megabyte_line")
    report = validate_file(write_file(case.content, "big.jsonl"), model="gpt-4o-mini")
    assert report.valid
    assert report.n_over_token_limit == 1
    warning = report.warning("over_token_limit")
    assert warning is not None and warning.lines == [1]
    total = report.stats.total_tokens_per_example
    assert total is not None and total.max > report.token_limit
    assert report.billed_tokens < report.total_tokens, "an example over the limit is billed at the limit"


def test_a_line_longer_than_the_cap_is_an_error_not_a_memory_spike(write_file: Callable[[bytes, str], Path]) -> None:
    short = b'{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}'
    lines = [b'{"messages": [{"role": "user", "content": "' + b"x" * 5000 + b'"}]}'] + [short] * 3
    report = validate_file(write_file(b"\n".join(lines) + b"\n", "long.jsonl"), max_line_bytes=1000)
    assert [(e.line, e.code) for e in report.errors if e.line is not None] == [(1, "line_too_long")]
    assert report.num_lines == 4 and report.num_examples == 4
