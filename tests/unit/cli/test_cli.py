"""The ``finetuner`` command on the dataset corpus: exit codes, JSON report, tables, convert, split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from finetuner.cli import app
from tests.paths import TOY_DATASET
from tests.unit.datasets.corpus import EXPECTED_WARNINGS, CorpusCase, case, cases, chat_file, csv_file, jsonl

runner = CliRunner()
CASES = cases()


def _write(tmp_path: Path, content: bytes, name: str = "data.jsonl") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("corpus_case", CASES, ids=[c.name for c in CASES])
def test_validate_json_gives_the_expected_outcome_and_exit_code(corpus_case: CorpusCase, tmp_path: Path) -> None:
    path = _write(tmp_path, corpus_case.content, corpus_case.name)
    result = runner.invoke(app, ["validate", str(path), "--json"])
    report = json.loads(result.stdout)
    if corpus_case.expected_code is None:
        assert result.exit_code == 0, report["errors"][:3]
        assert report["valid"] is True
        if corpus_case.name in EXPECTED_WARNINGS:
            assert EXPECTED_WARNINGS[corpus_case.name] in {w["code"] for w in report["warnings"]}
    else:
        assert result.exit_code == 1
        assert report["valid"] is False
        first = report["errors"][0]
        assert (first["code"], first["line"]) == (corpus_case.expected_code, corpus_case.expected_line)


def test_readable_report_shows_the_error_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, case("truncated_json").content)
    result = runner.invoke(app, ["validate", str(path)], terminal_width=160)
    assert result.exit_code == 1
    row = next(line for line in result.stdout.splitlines() if "invalid_json" in line and "column" in line)
    assert row.split()[1] == "4", row
    assert "invalid" in result.stdout and "billed tokens" in result.stdout


def test_readable_report_of_the_toy_file_has_the_cookbook_figures(tmp_path: Path) -> None:
    toy = TOY_DATASET
    result = runner.invoke(app, ["validate", str(toy), "--encoding", "cl100k_base"], terminal_width=160)
    assert result.exit_code == 1
    for figure in ("8,242", "164,840", "1,648.4", "8,032", "too_few_examples"):
        assert figure in result.stdout


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    path = _write(tmp_path, jsonl(chat_file()))
    assert runner.invoke(app, ["validate", str(tmp_path / "missing.jsonl")]).exit_code == 2
    assert runner.invoke(app, ["validate", str(path), "--encoding", "r50k_base"]).exit_code == 2
    assert runner.invoke(app, ["validate", str(path), "--format", "xml"]).exit_code == 2
    assert runner.invoke(app, ["validate", str(path), "--columns", "a,b,c"]).exit_code == 2


def test_convert_writes_canonical_chat_from_csv(tmp_path: Path) -> None:
    rows = "id,Question,Answer,notes\n" + "".join(f"{i},What is {i}?,It is {i}.,\n" for i in range(10))
    source = _write(tmp_path, rows.encode(), "qa.csv")
    output = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["convert", str(source), "-o", str(output), "--columns", "question,answer",
                                 "--system", "Be exact."])
    assert result.exit_code == 0, result.output
    converted = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(converted) == 10
    assert [m["role"] for m in converted[0]["messages"]] == ["system", "user", "assistant"]
    assert converted[0]["messages"][0]["content"] == "Be exact."


def test_convert_refuses_a_broken_file_and_writes_nothing(tmp_path: Path) -> None:
    source = _write(tmp_path, case("wrong_role").content)
    output = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["convert", str(source), "-o", str(output)], terminal_width=160)
    assert result.exit_code == 1
    assert "unrecognized_role" in result.stderr
    assert not output.exists()


def test_split_writes_train_and_validation_deterministically(tmp_path: Path) -> None:
    source = _write(tmp_path, jsonl(chat_file(40)), "all.jsonl")
    args = ["split", str(source), "--validation", "0.25", "--seed", "42"]
    assert runner.invoke(app, args).exit_code == 0
    train, validation = tmp_path / "all.train.jsonl", tmp_path / "all.validation.jsonl"
    first = (train.read_bytes(), validation.read_bytes())
    assert (len(first[0].splitlines()), len(first[1].splitlines())) == (30, 10)
    assert runner.invoke(app, args).exit_code == 0
    assert (train.read_bytes(), validation.read_bytes()) == first
    other = runner.invoke(app, [*args[:-1], "43", "--train-out", str(tmp_path / "t.jsonl"),
                                "--validation-out", str(tmp_path / "v.jsonl")])
    assert other.exit_code == 0
    assert (tmp_path / "v.jsonl").read_bytes() != first[1]
    assert list(tmp_path.glob("finetuner-split-*")) == [], "the scratch directory is removed"


def test_split_converts_legacy_formats_first(tmp_path: Path) -> None:
    source = _write(tmp_path, csv_file(20), "qa.csv")
    assert runner.invoke(app, ["split", str(source), "--validation", "0.1"]).exit_code == 0
    rows = [json.loads(line) for line in (tmp_path / "qa.validation.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and "messages" in rows[0]


def test_an_unknown_model_exits_2_listing_the_known_ones(tmp_path: Path) -> None:
    path = _write(tmp_path, jsonl(chat_file()))
    result = runner.invoke(app, ["validate", str(path), "--model", "gpt-5-ultra"], terminal_width=400)
    assert result.exit_code == 2, result.output
    assert "unknown model 'gpt-5-ultra'" in result.output
    assert "gpt-4o-mini-2024-07-18" in result.output and "--allow-unknown-model" in result.output


def test_allow_unknown_model_validates_with_default_limits_and_says_so(tmp_path: Path) -> None:
    path = _write(tmp_path, jsonl(chat_file()))
    result = runner.invoke(app, ["validate", str(path), "--model", "gpt-5-ultra", "--allow-unknown-model", "--json"])
    assert result.exit_code == 0, result.output
    warning = next(w for w in json.loads(result.stdout)["warnings"] if w["code"] == "unknown_model")
    assert "o200k_base" in warning["message"] and "16,385-token limit" in warning["message"]


def test_a_known_model_has_no_unknown_model_warning(tmp_path: Path) -> None:
    path = _write(tmp_path, jsonl(chat_file()))
    result = runner.invoke(app, ["validate", str(path), "--model", "gpt-4o-mini", "--json"])
    assert result.exit_code == 0, result.output
    assert "unknown_model" not in {w["code"] for w in json.loads(result.stdout)["warnings"]}


def test_split_with_a_test_fraction_writes_three_disjoint_files(tmp_path: Path) -> None:
    source = _write(tmp_path, jsonl(chat_file(40)), "all.jsonl")
    result = runner.invoke(app, ["split", str(source), "--validation", "0.1", "--test", "0.25", "--stratify"])
    assert result.exit_code == 0, result.stdout
    parts = [set((tmp_path / f"all.{role}.jsonl").read_text().splitlines()) for role in ("train", "validation", "test")]
    assert [len(p) for p in parts] == [26, 4, 10]
    assert not (parts[0] & parts[2] or parts[1] & parts[2]), "the test set shares no example with the others"
    assert "test: 10 examples" in result.stdout
