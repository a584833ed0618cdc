"""Deterministic train/validation split of a canonical JSONL file, streaming.

Which examples go to validation depends only on (number of examples, fraction, seed), so the CLI
and the API split the same file the same way, and a rerun gives byte-identical files.
"""

from __future__ import annotations

import hashlib
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


def _examples(path: Path) -> int:
    with path.open("rb") as stream:
        return sum(1 for line in stream if not line.isspace())


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
) -> SplitResult:
    """Split a JSONL file (one example per non-blank line) into two files, keeping line order."""
    source = Path(source_path)
    chosen = validation_indices(_examples(source), validation_fraction, seed)
    train, validation = _Part(Path(train_path)), _Part(Path(validation_path))
    try:
        with source.open("rb") as stream:
            index = 0
            for line in stream:
                if line.isspace():
                    continue
                (validation if index in chosen else train).write(line)
                index += 1
    except BaseException:
        train.abort()
        validation.abort()
        raise
    return SplitResult(train=train.finish(), validation=validation.finish())
