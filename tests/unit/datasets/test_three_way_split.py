"""Three-way splits: train / validation / test in one call, deterministic, disjoint, stratified on request."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from core.datasets.split import assign, split_file, validation_indices


def _rows(n: int) -> list[str]:
    labels = ["spam"] * (n // 10) + ["ham"] * (n - n // 10)  # a 10 % minority class
    return [json.dumps({"messages": [{"role": "user", "content": f"message {i}"},
                                     {"role": "assistant", "content": label}]}) for i, label in enumerate(labels)]


def _write(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "all.jsonl"
    path.write_text("\n".join(rows) + "\n")
    return path


def _labels(path: Path) -> Counter[str]:
    return Counter(json.loads(line)["messages"][-1]["content"] for line in path.read_text().splitlines())


def test_three_parts_are_disjoint_cover_everything_and_repeat_byte_for_byte(tmp_path: Path) -> None:
    source = _write(tmp_path, _rows(200))
    first = split_file(source, tmp_path / "a.train", tmp_path / "a.valid", validation_fraction=0.1, seed=5,
                       test_path=tmp_path / "a.test", test_fraction=0.2)
    again = split_file(source, tmp_path / "b.train", tmp_path / "b.valid", validation_fraction=0.1, seed=5,
                       test_path=tmp_path / "b.test", test_fraction=0.2)
    assert first.test is not None and again.test is not None
    assert (first.train.num_examples, first.validation.num_examples, first.test.num_examples) == (140, 20, 40)
    parts = [set(p.path.read_text().splitlines()) for p in (first.train, first.validation, first.test)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2]), "no example in two parts"
    assert len(parts[0] | parts[1] | parts[2]) == 200
    assert (first.train.sha256, first.test.sha256) == (again.train.sha256, again.test.sha256)


def test_without_a_test_fraction_the_validation_pick_is_the_two_way_splits() -> None:
    validation, test = assign(100, 0.1, 0.0, 42)
    assert validation == validation_indices(100, 0.1, 42) and test == set()


def test_a_stratified_split_keeps_a_rare_labels_share_in_every_part(tmp_path: Path) -> None:
    source = _write(tmp_path, _rows(100))
    result = split_file(source, tmp_path / "t", tmp_path / "v", validation_fraction=0.2, seed=1,
                        test_path=tmp_path / "x", test_fraction=0.2, stratify=True)
    assert result.test is not None
    assert _labels(result.validation.path) == {"ham": 18, "spam": 2}
    assert _labels(result.test.path) == {"ham": 18, "spam": 2}
    assert _labels(result.train.path) == {"ham": 54, "spam": 6}


@pytest.mark.parametrize(("validation", "test"), [(0.5, 0.5), (0.6, 0.5), (0.1, -0.1)])
def test_fractions_that_leave_nothing_to_train_on_are_refused(validation: float, test: float) -> None:
    with pytest.raises(ValueError, match="fractions"):
        assign(100, validation, test, 1)
