"""Token counts per example: the cookbook's formula, extended to values that are not strings.

Rule (also in ``docs/datasets.md``): each message costs 3 tokens, plus the tokens of each of its
values, plus 1 when it has a ``name``; each example costs 3 more. A string value counts its own
tokens; a value that is not a string (``tool_calls``, ``function_call``) counts the tokens of its
compact JSON; ``weight`` and null values count nothing. The example's top-level ``tools`` and
``functions`` count their compact JSON too (``parallel_tool_calls`` is a switch, not text).

Datasets repeat themselves (one system prompt, one tools list on every line), so counts of
strings seen before come from a bounded cache instead of the tokenizer.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from core.datasets.tokens import ordinary_encoder

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
TOKENS_PER_EXAMPLE = 3
_NOT_COUNTED = frozenset({"weight"})
_COUNTED_TOP_LEVEL = ("tools", "functions")

CACHE_MAX_CHARS = 8_000_000  # bounded memory whatever the file size
CACHE_MAX_STRING = 65_536  # longer strings are rarely repeated; not worth holding


class ExampleTokens(NamedTuple):
    total: int
    assistant: int
    messages: int


def compact_json(value: Any) -> str:
    """The text a non-string value is counted as: no spaces, UTF-8, keys in the file's order."""
    return orjson.dumps(value).decode("utf-8")


class TokenCounter:
    """Counts tokens of one encoding, remembering recent strings (exactly; nothing is estimated)."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._encode = ordinary_encoder(encoding)
        self._cache: dict[str, int] = {}
        self._cached_chars = 0

    def text(self, text: str) -> int:
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        # encode_ordinary treats "<|endoftext|>" in user data as text, as OpenAI's training does.
        count = len(self._encode(text))
        if len(text) <= CACHE_MAX_STRING:
            if self._cached_chars + len(text) > CACHE_MAX_CHARS:
                self._cache.clear()
                self._cached_chars = 0
            self._cache[text] = count
            self._cached_chars += len(text)
        return count

    def value(self, value: Any) -> int:
        if isinstance(value, str):
            return self.text(value)
        if value is None:
            return 0
        return self.text(compact_json(value))

    def message(self, message: dict[str, Any]) -> int:
        total = TOKENS_PER_MESSAGE
        text = self.text
        for key, value in message.items():
            if key in _NOT_COUNTED:
                continue
            # The hot loop of validation: strings (nearly every value) skip value()'s dispatch.
            total += text(value) if type(value) is str else self.value(value)
            if key == "name":
                total += TOKENS_PER_NAME
        return total

    def assistant_part(self, message: dict[str, Any]) -> int:
        """What the model learns to write: content and calls, without the formula's overhead."""
        return (self.value(message.get("content")) + self.value(message.get("tool_calls"))
                + self.value(message.get("function_call")))

    def _top_level(self, holder: dict[str, Any]) -> int:
        return sum(self.value(holder[key]) for key in _COUNTED_TOP_LEVEL if key in holder)

    def chat(self, example: dict[str, Any]) -> ExampleTokens:
        """A canonical chat example: ``{"messages": [...], "tools"?: [...], ...}``."""
        messages: list[dict[str, Any]] = example["messages"]
        total = TOKENS_PER_EXAMPLE + self._top_level(example)
        assistant = 0
        for message in messages:
            total += self.message(message)
            if message.get("role") == "assistant":
                assistant += self.assistant_part(message)
        return ExampleTokens(total, assistant, len(messages))

    def preference(self, example: dict[str, Any]) -> ExampleTokens:
        """A DPO pair counts its input once and both answers, as one conversation."""
        prompt = self.chat(example["input"])
        total, assistant = prompt.total, prompt.assistant
        for key in ("preferred_output", "non_preferred_output"):
            for message in example[key]:
                total += self.message(message)
                assistant += self.assistant_part(message)
        return ExampleTokens(total, assistant, prompt.messages + 2)
