"""Tokenizer data comes from the shipped package and matches tiktoken's expected hashes."""

from __future__ import annotations

import pytest

from core.datasets.tokens import count_text_tokens, get_encoding


@pytest.mark.parametrize(("encoding", "expected"), [("cl100k_base", [15339, 1917]), ("o200k_base", [24912, 2375])])
def test_known_token_ids(encoding: str, expected: list[int]) -> None:
    assert get_encoding(encoding).encode("hello world") == expected


def test_special_token_text_in_user_data_is_ordinary_text() -> None:
    assert count_text_tokens("<|endoftext|>", "cl100k_base") > 1


def test_unsupported_encoding_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported encoding"):
        get_encoding("r50k_base")
