"""Tokenizer data comes from the shipped package and matches tiktoken's expected hashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.datasets import tokens
from core.datasets.tokens import count_text_tokens, get_encoding


@pytest.mark.parametrize(("encoding", "expected"), [("cl100k_base", [15339, 1917]), ("o200k_base", [24912, 2375])])
def test_known_token_ids(encoding: str, expected: list[int]) -> None:
    assert get_encoding(encoding).encode("hello world") == expected


def test_special_token_text_in_user_data_is_ordinary_text() -> None:
    assert count_text_tokens("<|endoftext|>", "cl100k_base") > 1


def test_unsupported_encoding_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported encoding"):
        get_encoding("r50k_base")


def test_decoded_ranks_are_cached_after_a_verified_read_and_read_back_identically(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(tokens.RANKS_CACHE_ENV, str(tmp_path))
    first = tokens.encoding_spec("cl100k_base")["mergeable_ranks"]
    (entry,) = tmp_path.glob("ranks-cl100k_base-*.marshal")
    assert entry.name.startswith("ranks-cl100k_base-223921b76ee99bde")  # keyed by tiktoken's expected hash
    # A second read must not need the shipped file.
    monkeypatch.setattr("core.datasets.tokens.resources.files", _no_shipped_data)
    assert tokens.encoding_spec("cl100k_base")["mergeable_ranks"] == first


def test_a_damaged_cache_entry_is_ignored_and_rewritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(tokens.RANKS_CACHE_ENV, str(tmp_path))
    reference = tokens.encoding_spec("o200k_base")["mergeable_ranks"]
    (entry,) = tmp_path.glob("ranks-o200k_base-*.marshal")
    entry.write_bytes(entry.read_bytes()[:1000])  # a write cut short
    assert tokens.encoding_spec("o200k_base")["mergeable_ranks"] == reference
    assert len(entry.read_bytes()) > 1000


def test_the_cache_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(tokens.RANKS_CACHE_ENV, "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    tokens.encoding_spec("cl100k_base")
    assert not list(tmp_path.rglob("*.marshal"))


def _no_shipped_data(package: str) -> object:
    raise ModuleNotFoundError(f"{package} hidden by the test")
