"""The fast tokenizer counts exactly what tiktoken (the reference) counts, or it is not used.

riptoken's ``CoreBPE`` is built from the same shipped ranks, pattern and special tokens as our
tiktoken encodings. Bare, it differs from tiktoken on regex pieces of 500 bytes or more, so the
counter guards it (texts that may hold a piece of 256+ bytes go to tiktoken). These tests compare
token ids (not only counts) of the encoder the counter uses with tiktoken's on a varied corpus for
both encodings, check the guard never misses a long piece, and that tiktoken stays the fallback.
"""

from __future__ import annotations

import builtins
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
import regex  # type: ignore[import-untyped]  # tiktoken's own dependency, for its split pattern
from hypothesis import given, settings
from hypothesis import strategies as st

from core.datasets import tokens
from core.datasets.counting import TokenCounter
from tests.paths import DRONE_DATASET, TOY_DATASET

ENCODINGS = ("cl100k_base", "o200k_base")

PROSE = [
    "The quick brown fox jumps over the lazy dog.",
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness.",
    "Dear customer,\n\nYour order #48213 has shipped. Expected delivery: 3\u20135 business days.\n\nRegards,\nSupport",
    "I've, you're, he'd, they'll, we'RE, SHE'S, 'tis -- contractions & punctuation!?...",
    "Prices: $1,299.99, \u20ac45, \u00a30.50, 12.5%, 1e-9, 0x1F, 3.14159265358979, 100000000000000000000",
]
CODE = [
    "def fib(n: int) -> int:\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i] * b[i];\n}\n",
    'SELECT id, name FROM users WHERE email LIKE "%@example.com" ORDER BY id DESC LIMIT 10;',
    '{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}]}',
    "<html><body><div class=\"x\">&amp; &lt;tag&gt;</div></body></html>",
    "    \t  indented\n\t\tmixed tabs\r\n\r\ncrlf   trailing   \n",
]
UNICODE = [
    "Bonjour, \u00e7a va ? Tr\u00e8s bien, merci. \u00c0 bient\u00f4t !",
    "Gr\u00fc\u00dfe aus M\u00fcnchen: \u00e4\u00f6\u00fc \u00c4\u00d6\u00dc \u00df",
    "\u4eca\u65e5\u306f\u3044\u3044\u5929\u6c17\u3067\u3059\u306d\u3002\u6771\u4eac\u3078\u884c\u304d\u307e\u3059\u3002",
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u8fd9\u662f\u4e00\u4e2a\u6d4b\u8bd5\u3002",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u041a\u0430\u043a \u0434\u0435\u043b\u0430?",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645 "
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",
    "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8 \u0939\u093f\u0928\u094d\u0926\u0940 "
    "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22",
    "emoji \U0001f600\U0001f44d\U0001f3fd \U0001f468\u200d\U0001f469\u200d\U0001f467 flags \U0001f1eb\U0001f1f7",
    "combining e\u0301 a\u0308 n\u0303; zero-width \u200b\u200c\u200d; nbsp\u00a0here; bom \ufeff",
    "math \u2200x\u2208\u211d: x\u00b2 \u2265 0 \u2211 \u222b \u221e",
]
WHITESPACE = [" ", "  ", " " * 17, "\n", "\n\n\n", "\t\t", " \n \n ", "\r\n" * 5, "a" + " " * 40 + "b",
              "\u3000\u3000", "trailing  ", "  leading", "\x0b\x0c", ""]
SPECIAL_LOOKING = [
    "<|endoftext|>", "<|endofprompt|>", "<|fim_prefix|>x<|fim_middle|>y<|fim_suffix|>",
    "<|im_start|>user\nhi<|im_end|>", "<|endoftext", "|endoftext|>", "<|<|endoftext|>|>", "<| endoftext |>",
]


def _long_strings() -> list[str]:
    rng = random.Random(14)
    words = " ".join(rng.choice(["alpha", "beta", "gamma", "delta", "\u00e9t\u00e9", "\u65e5\u672c", "42", "\n"])
                     for _ in range(20_000))
    return [
        words,  # ~130 K characters of mixed prose
        "x" * 50_000,  # one 50 K-character word: worst case for the BPE merge loop
        "1234567890" * 5_000,
        "\U0001f600" * 5_000,
        " " * 30_000 + "end",
        "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(20_000)),
    ]


def _dataset_strings() -> list[str]:
    """Every string value (and tools JSON) in the cookbook's toy file and the drone file."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for path in (TOY_DATASET, DRONE_DATASET):
        for line in path.read_text(encoding="utf-8").splitlines():
            example = json.loads(line)
            walk(example)
            found.append(json.dumps(example.get("tools", []), separators=(",", ":")))
    return found


def corpus() -> Iterator[str]:
    yield from PROSE + CODE + UNICODE + WHITESPACE + SPECIAL_LOOKING
    yield from _long_strings()
    yield from _dataset_strings()
    mixed = PROSE + CODE + UNICODE + SPECIAL_LOOKING
    rng = random.Random(7)
    for _ in range(200):
        yield "".join(rng.choice(mixed) + rng.choice(WHITESPACE) for _ in range(rng.randint(1, 6)))


def _fast(encoding: str) -> tokens.Encode:
    encode = tokens.ordinary_encoder(encoding, "riptoken")
    assert isinstance(encode, tokens.GuardedEncoder)
    return encode


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_the_fast_encoder_gives_tiktokens_token_ids_on_the_varied_corpus(encoding: str) -> None:
    reference = tokens.get_encoding(encoding).encode_ordinary
    fast = _fast(encoding)
    texts = list(corpus())
    assert len(texts) > 400
    for text in texts:
        assert fast(text) == reference(text), f"{encoding}: the fast encoder differs from tiktoken on {text[:80]!r}"


_runs = st.lists(st.tuples(st.sampled_from(["a", "ab", " ", "\n", " \n", "-=", "\u65e5", "\u3000", "/\n", "x1",
                                            "\u00a0 ", "\t", "\U0001f600", "'s"]), st.integers(1, 300)),
                 min_size=1, max_size=4).map(lambda parts: "".join(piece * n for piece, n in parts))


@pytest.mark.parametrize("encoding", ENCODINGS)
@settings(max_examples=200, deadline=None)
@given(text=st.one_of(st.text(st.characters(codec="utf-8"), max_size=300), _runs))
def test_the_fast_encoder_gives_tiktokens_token_ids_on_any_text(encoding: str, text: str) -> None:
    assert _fast(encoding)(text) == tokens.get_encoding(encoding).encode_ordinary(text)


@pytest.mark.parametrize("encoding", ENCODINGS)
@settings(max_examples=300, deadline=None)
@given(text=st.one_of(_runs, st.text(st.characters(codec="utf-8"), min_size=60, max_size=700)))
def test_the_guard_never_misses_a_long_piece(encoding: str, text: str) -> None:
    pattern = tokens.get_encoding(encoding)._pat_str
    longest = max((len(piece.encode()) for piece in regex.findall(pattern, text)), default=0)
    if longest >= tokens.LONG_PIECE_BYTES:
        assert tokens.may_hold_long_piece(text), f"a {longest}-byte piece was not flagged in {text[:60]!r}"


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_bare_riptoken_differs_on_a_500_byte_piece_so_the_guard_is_needed(encoding: str) -> None:
    text = " " * 499 + "\n"
    assert tokens._riptoken_encoder(encoding)(text) != tokens.get_encoding(encoding).encode_ordinary(text)
    assert tokens.may_hold_long_piece(text)
    assert not tokens.may_hold_long_piece("a short sentence, " * 40)


def test_the_counter_counts_with_riptoken_when_it_is_installed() -> None:
    assert tokens.tokenizer_in_use("cl100k_base") == "riptoken"
    assert tokens.tokenizer_in_use("o200k_base") == "riptoken"


def test_tokenizer_env_forces_tiktoken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(tokens.TOKENIZER_ENV, "tiktoken")
    tokens.ordinary_encoder.cache_clear()
    try:
        encode = tokens.ordinary_encoder("cl100k_base")
        assert encode.__self__ is tokens.get_encoding("cl100k_base")  # type: ignore[attr-defined]
        assert TokenCounter("cl100k_base").text("hello world") == 2
    finally:
        tokens.ordinary_encoder.cache_clear()


def test_tiktoken_counts_when_riptoken_cannot_be_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_riptoken(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "riptoken":
            raise ImportError("riptoken hidden by the test")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_riptoken)
    tokens.ordinary_encoder.cache_clear()
    try:
        assert tokens.tokenizer_in_use("cl100k_base") == "tiktoken"
        assert TokenCounter("cl100k_base").text("<|endoftext|>") == len(
            tokens.get_encoding("cl100k_base").encode_ordinary("<|endoftext|>"))
        with pytest.raises(ImportError):
            tokens.ordinary_encoder("o200k_base", "riptoken")
    finally:
        tokens.ordinary_encoder.cache_clear()


def test_an_unknown_tokenizer_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown tokenizer"):
        tokens.ordinary_encoder("cl100k_base", "sentencepiece")


# Totals the validator printed before riptoken (tiktoken alone): the toy file's are the cookbook's own.
PINNED_TOTALS = {("cl100k_base", "toy"): 8242, ("cl100k_base", "drone"): 79209,
                 ("o200k_base", "toy"): 8233, ("o200k_base", "drone"): 79921}


@pytest.mark.parametrize(("encoding", "name"), sorted(PINNED_TOTALS))
def test_the_validators_totals_on_the_cookbook_files_are_unchanged(encoding: str, name: str) -> None:
    from core.datasets.validate import validate_file

    path = TOY_DATASET if name == "toy" else DRONE_DATASET
    assert tokens.tokenizer_in_use(encoding) == "riptoken"
    assert validate_file(path, encoding=encoding).total_tokens == PINNED_TOTALS[(encoding, name)]
