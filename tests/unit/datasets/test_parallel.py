"""Reading a file in parts with several processes gives exactly the single pass's report."""

from __future__ import annotations

import itertools
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.datasets import parallel
from core.datasets.ingest import ingest
from core.datasets.parallel import part_bounds
from core.datasets.validate import validate_file
from tests.unit.datasets.corpus import CorpusCase, cases, chat_example

# CSV is always read in one pass; the 5 MB line says nothing about part boundaries and costs seconds.
JSONL_CASES = [c for c in cases() if not c.name.startswith(("csv", "tsv", "utf16", "binary", "five_megabyte"))]


@pytest.fixture(autouse=True)
def _parallel_even_for_small_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)


@pytest.mark.parametrize("case", JSONL_CASES, ids=[c.name for c in JSONL_CASES])
def test_corpus_reports_are_identical_in_parts(case: CorpusCase, write_file: Callable[[bytes, str], Path]) -> None:
    path = write_file(case.content, case.name + ".jsonl")
    serial = validate_file(path, encoding="cl100k_base")
    assert validate_file(path, encoding="cl100k_base", workers=3) == serial


def test_parts_end_after_a_newline_and_cover_the_file(tmp_path: Path) -> None:
    path = tmp_path / "lines.jsonl"
    content = b"".join(b"x" * (i % 50) + b"\n" for i in range(1000)) + b"no final newline"
    path.write_bytes(content)
    bounds = part_bounds(path, len(content), 7)
    assert bounds[0][0] == 0 and bounds[-1][1] == len(content) and len(bounds) == 7
    for (_, end), (start, _) in itertools.pairwise(bounds):
        assert end == start and content[end - 1:end] == b"\n"


_lines = st.lists(st.one_of(
    st.integers(0, 5).map(lambda i: json.dumps(chat_example(i))),  # repeats make duplicates
    st.sampled_from(["", "  ", "{broken", "42", '{"prompt": "a", "completion": "b"}', '{"other": 1}',
                     json.dumps({"messages": [{"role": "system", "content": "Other."},
                                              {"role": "assistant", "content": "Yes."}]})]),
), min_size=1, max_size=40)


@settings(max_examples=40, deadline=None)
@given(lines=_lines, workers=st.integers(2, 4), final_newline=st.booleans())
def test_any_file_gets_the_same_report_and_canonical_bytes_in_parts(lines: list[str], workers: int,
                                                                     final_newline: bool) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "data.jsonl"
        path.write_text("\n".join(lines) + ("\n" if final_newline else ""))
        one = ingest(path, Path(scratch) / "one.jsonl", encoding="cl100k_base")
        many = ingest(path, Path(scratch) / "many.jsonl", encoding="cl100k_base", workers=workers)
        assert many.report == one.report
        assert many.canonical_sha256 == one.canonical_sha256


def test_no_serial_pass_reads_the_later_parts_before_the_workers_start(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(chat_example(i)) + "\n" for i in range(300)) + "{broken\n")
    opened: list[tuple[int, int]] = []
    real_open_range = parallel._open_range

    def recording_open_range(file: Path, start: int, end: int) -> Any:
        opened.append((start, end))  # only the calling process's opens land here (workers are forks)
        return real_open_range(file, start, end)

    monkeypatch.setattr(parallel, "_open_range", recording_open_range)
    report = validate_file(path, encoding="cl100k_base", workers=3)
    first_part_end = part_bounds(path, path.stat().st_size, 3)[0][1]
    assert opened and all(rng == (0, first_part_end) for rng in opened), opened
    assert [e.line for e in report.errors if e.code == "invalid_json"] == [301]
