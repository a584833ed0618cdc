"""Shared fixtures: the two real datasets, and a writer of corpus files into a temp dir."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[4] / "shared" / "datasets"


@pytest.fixture(scope="session")
def toy_path() -> Path:
    path = SHARED / "toy_chat_fine_tuning.jsonl"
    assert path.is_file(), f"missing {path}: tests read the shared datasets beside the repository"
    return path


@pytest.fixture(scope="session")
def drone_path() -> Path:
    path = SHARED / "drone_training.jsonl"
    assert path.is_file(), f"missing {path}: tests read the shared datasets beside the repository"
    return path


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[bytes, str], Path]:
    def write(content: bytes, name: str = "data.jsonl") -> Path:
        path = tmp_path / name
        path.write_bytes(content)
        return path

    return write
