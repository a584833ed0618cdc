"""Deterministic train/validation(/test) split of a canonical JSONL file, streaming.

Which examples go where depends only on (number of examples, fractions, seed) — and, when the split
is stratified, on each example's label (its last assistant reply) — so the CLI and the API split
the same file the same way, and a rerun gives byte-identical files. The three parts never share an
example, so a held-out test set never overlaps training. Without a test fraction the validation
pick is exactly the two-way split's.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SplitPart:
    path: Path
    num_examples: int
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class SplitResult:
    train: SplitPart
    validation: SplitPart
    test: SplitPart | None = None


def validation_size(n_examples: int, fraction: float) -> int:
    """round(n x fraction), but at least one example on each side when there are two or more."""
    if not 0 < fraction < 1:
        raise ValueError(f"the validation fraction must be between 0 and 1 (exclusive), got {fraction}")
    if n_examples < 2:
        raise ValueError(f"cannot split {n_examples} example(s) into a training and a validation set")
    return min(max(round(n_examples * fraction), 1), n_examples - 1)


def validation_indices(n_examples: int, fraction: float, seed: int) -> set[int]:
    """0-based positions (among non-blank lines) of the examples that go to validation."""
    return set(random.Random(seed).sample(range(n_examples), validation_size(n_examples, fraction)))


def _label(line: bytes) -> str:
    """An example's stratum: its last assistant reply, normalised (a label task's class)."""
    try:
        messages = json.loads(line).get("messages") or []
    except (ValueError, AttributeError):
        return ""
    replies = [m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "assistant"]
    last = replies[-1] if replies else ""
    return last.strip().casefold() if isinstance(last, str) else ""


def part_sizes(n: int, validation_fraction: float, test_fraction: float) -> tuple[int, int]:
    """(validation, test) sizes; at least one example in each part asked for, and some left to train on."""
    if not 0 < validation_fraction < 1 or not 0 <= test_fraction < 1 or validation_fraction + test_fraction >= 1:
        raise ValueError(f"fractions must be between 0 and 1 and leave some training data: validation "
                         f"{validation_fraction}, test {test_fraction}")
    if test_fraction == 0:
        return validation_size(n, validation_fraction), 0
    if n < 3:
        raise ValueError(f"cannot split {n} example(s) into training, validation and test sets")
    n_test = min(max(round(n * test_fraction), 1), n - 2)
    n_validation = min(max(round(n * validation_fraction), 1), n - n_test - 1)
    return n_validation, n_test


def assign(n_examples: int, validation_fraction: float, test_fraction: float, seed: int,
           labels: list[str] | None = None) -> tuple[set[int], set[int]]:
    """(validation, test) positions. Stratified when ``labels`` is given: each label keeps its share
    in every part (largest remainders decide the rounding), so a rare class is not left out of test."""
    n_validation, n_test = part_sizes(n_examples, validation_fraction, test_fraction)
    validation: set[int] = set()
    test: set[int] = set()
    if labels is None:
        validation = validation_indices(n_examples, validation_fraction, seed) if n_test == 0 else set(
            random.Random(seed).sample(range(n_examples), n_validation))
        rest = [i for i in range(n_examples) if i not in validation]
        return validation, set(random.Random(f"{seed}:test").sample(rest, n_test))
    groups: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        groups.setdefault(label, []).append(index)
    for part, size, salt in ((validation, n_validation, "validation"), (test, n_test, "test")):
        available = {label: [i for i in members if i not in validation and i not in test]
                     for label, members in sorted(groups.items())}
        shares = {label: size * len(members) / n_examples for label, members in sorted(groups.items())}
        counts = {label: min(int(share), len(available[label])) for label, share in shares.items()}
        for label in sorted(shares, key=lambda lb: (-(shares[lb] - int(shares[lb])), lb)):
            if sum(counts.values()) >= size:
                break
            if counts[label] < len(available[label]):
                counts[label] += 1
        for label, count in counts.items():
            part.update(random.Random(f"{seed}:{salt}:{label}").sample(available[label], count))
    return validation, test


def _examples(path: Path) -> int:
    with path.open("rb") as stream:
        return sum(1 for line in stream if not line.isspace())


def _labels(path: Path) -> list[str]:
    with path.open("rb") as stream:
        return [_label(line) for line in stream if not line.isspace()]


class _Part:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self.out = self.partial.open("wb", buffering=1024 * 1024)
        self.digest = hashlib.sha256()
        self.count = 0
        self.size = 0

    def write(self, line: bytes) -> None:
        line = line.rstrip(b"\r\n") + b"\n"
        self.out.write(line)
        self.digest.update(line)
        self.count += 1
        self.size += len(line)

    def finish(self) -> SplitPart:
        self.out.close()
        os.replace(self.partial, self.path)
        return SplitPart(self.path, self.count, self.digest.hexdigest(), self.size)

    def abort(self) -> None:
        self.out.close()
        self.partial.unlink(missing_ok=True)


def split_file(
    source_path: str | os.PathLike[str],
    train_path: str | os.PathLike[str],
    validation_path: str | os.PathLike[str],
    *,
    validation_fraction: float = 0.1,
    seed: int = 42,
    test_path: str | os.PathLike[str] | None = None,
    test_fraction: float = 0.0,
    stratify: bool = False,
) -> SplitResult:
    """Split a JSONL file (one example per non-blank line) into two or three files, keeping line order."""
    source = Path(source_path)
    if test_fraction and test_path is None:
        raise ValueError("a test fraction needs a test output path")
    labels = _labels(source) if stratify else None
    chosen, tested = assign(len(labels) if labels is not None else _examples(source), validation_fraction,
                            test_fraction, seed, labels)
    train, validation = _Part(Path(train_path)), _Part(Path(validation_path))
    test = _Part(Path(test_path)) if test_fraction and test_path is not None else None
    parts = [p for p in (train, validation, test) if p is not None]
    try:
        with source.open("rb") as stream:
            index = 0
            for line in stream:
                if line.isspace():
                    continue
                if index in chosen:
                    validation.write(line)
                elif index in tested and test is not None:
                    test.write(line)
                else:
                    train.write(line)
                index += 1
    except BaseException:
        for part in parts:
            part.abort()
        raise
    return SplitResult(train=train.finish(), validation=validation.finish(),
                       test=test.finish() if test is not None else None)
