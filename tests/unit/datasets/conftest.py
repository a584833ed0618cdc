"""Shared fixtures: the two real datasets, and a writer of corpus files into a temp dir."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.paths import DRONE_DATASET, TOY_DATASET


@pytest.fixture(scope="session")
def toy_path() -> Path:
    path = TOY_DATASET
    assert path.is_file(), f"missing {path}: the datasets live in tests/data/"
    return path


@pytest.fixture(scope="session")
def drone_path() -> Path:
    path = DRONE_DATASET
    assert path.is_file(), f"missing {path}: the datasets live in tests/data/"
    return path


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[bytes, str], Path]:
    def write(content: bytes, name: str = "data.jsonl") -> Path:
        path = tmp_path / name
        path.write_bytes(content)
        return path

    return write
