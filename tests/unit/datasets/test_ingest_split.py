"""Ingest writes the canonical file beside the report; split is deterministic by seed."""

from __future__ import annotations

import codecs
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from core.datasets.ingest import ingest
from core.datasets.split import split_file, validation_indices, validation_size
from core.datasets.validate import validate_file
from tests.unit.datasets.corpus import case, chat_example, chat_file, csv_file, jsonl, preference_file

WriteFile = Callable[[bytes, str], Path]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def test_prompt_completion_csv_becomes_chat_with_the_given_system_prompt(write_file: WriteFile, tmp_path: Path
                                                                        ) -> None:
    source = write_file(csv_file(), "qa.csv")
    before = source.read_bytes()
    result = ingest(source, tmp_path / "out.jsonl", system_prompt="Answer with the sum.")
    assert result.report.valid and result.status == "valid"
    assert result.canonical_path == tmp_path / "out.jsonl"
    rows = _rows(result.canonical_path)
    assert len(rows) == 10
    assert rows[3] == {"messages": [{"role": "system", "content": "Answer with the sum."},
                                    {"role": "user", "content": "What is 3 plus 3?"},
                                    {"role": "assistant", "content": 'It is 6, as in "3+3".'}]}
    assert source.read_bytes() == before, "the original is never modified"
    assert result.original_sha256 == _sha(source) and result.original_bytes == len(before)
    assert result.canonical_sha256 == _sha(result.canonical_path)
    assert result.canonical_bytes == result.canonical_path.stat().st_size


def test_canonical_chat_is_compact_without_bom_crlf_blank_lines_or_unknown_keys(write_file: WriteFile,
                                                                              tmp_path: Path) -> None:
    examples = [chat_example(i, source="crm") for i in range(10)]
    content = codecs.BOM_UTF8 + jsonl(examples, newline="\r\n") + b"\r\n"
    result = ingest(write_file(content, "crlf.jsonl"), tmp_path / "c.jsonl")
    assert result.canonical_path is not None
    data = result.canonical_path.read_bytes()
    assert not data.startswith(codecs.BOM_UTF8) and b"\r" not in data and b"\n\n" not in data
    assert _rows(result.canonical_path) == [chat_example(i) for i in range(10)]
    again = validate_file(result.canonical_path)
    assert again.valid and again.total_tokens == result.report.total_tokens
    assert [w.code for w in again.warnings] == ["few_examples"]


def test_preference_pairs_stay_preference_pairs(write_file: WriteFile, tmp_path: Path) -> None:
    result = ingest(write_file(preference_file(), "dpo.jsonl"), tmp_path / "dpo.canonical.jsonl")
    assert result.report.method == "dpo" and result.canonical_path is not None
    assert set(_rows(result.canonical_path)[0]) == {"input", "preferred_output", "non_preferred_output"}


def test_invalid_lines_leave_no_canonical_file(write_file: WriteFile, tmp_path: Path) -> None:
    result = ingest(write_file(case("truncated_json").content, "bad.jsonl"), tmp_path / "never.jsonl")
    assert result.report.valid is False
    assert (result.canonical_path, result.canonical_sha256) == (None, None)
    assert list(tmp_path.glob("never*")) == []
    assert result.original_sha256 == hashlib.sha256(case("truncated_json").content).hexdigest()


def test_a_file_too_small_to_train_still_converts(write_file: WriteFile, tmp_path: Path) -> None:
    result = ingest(write_file(jsonl(chat_file(3)), "small.jsonl"), tmp_path / "small.canonical.jsonl")
    assert not result.report.valid
    assert result.canonical_path is not None and len(_rows(result.canonical_path)) == 3


@pytest.mark.parametrize(("n", "fraction", "expected"), [(10, 0.1, 1), (10, 0.01, 1), (10, 0.99, 9), (101, 0.1, 10),
                                                          (2, 0.5, 1)])
def test_validation_size_keeps_one_example_on_each_side(n: int, fraction: float, expected: int) -> None:
    assert validation_size(n, fraction) == expected


@pytest.mark.parametrize(("n", "fraction"), [(1, 0.1), (10, 0.0), (10, 1.0)])
def test_impossible_splits_are_refused(n: int, fraction: float) -> None:
    with pytest.raises(ValueError, match=r"validation fraction|cannot split"):
        validation_size(n, fraction)


def test_split_is_deterministic_by_seed_and_loses_nothing(write_file: WriteFile, tmp_path: Path) -> None:
    source = write_file(jsonl(chat_file(50)) + b"\n", "all.jsonl")
    first = split_file(source, tmp_path / "t1.jsonl", tmp_path / "v1.jsonl", validation_fraction=0.2, seed=7)
    second = split_file(source, tmp_path / "t2.jsonl", tmp_path / "v2.jsonl", validation_fraction=0.2, seed=7)
    other = split_file(source, tmp_path / "t3.jsonl", tmp_path / "v3.jsonl", validation_fraction=0.2, seed=8)
    assert (first.train.num_examples, first.validation.num_examples) == (40, 10)
    assert (first.train.sha256, first.validation.sha256) == (second.train.sha256, second.validation.sha256)
    assert first.validation.sha256 != other.validation.sha256
    assert first.validation.sha256 == _sha(tmp_path / "v1.jsonl")
    train, valid = _rows(tmp_path / "t1.jsonl"), _rows(tmp_path / "v1.jsonl")
    assert sorted(map(json.dumps, train + valid)) == sorted(map(json.dumps, chat_file(50)))
    chosen = validation_indices(50, 0.2, 7)
    assert valid == [e for i, e in enumerate(chat_file(50)) if i in chosen], "line order is kept"
