"""Reading a fine-tuning file the way OpenAI's validation step does.

The emulator fails a job in ``validating_files`` for the same kinds of mistakes OpenAI fails it for
(not JSONL, a line that is not an object, no ``messages``, a bad role, missing content, no assistant
turn, too few examples), naming the 1-based line, so client code learns to surface those errors.
It also counts each example's tokens (the cookbook formula, see :func:`example_tokens`), which
becomes the job's ``trained_tokens``, and keeps what the chat endpoint needs to answer like the
fine-tuned model would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from core.datasets.counting import TokenCounter

CHAT_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
MESSAGE_KEYS = {"role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call", "refusal"}


class DataFileError(ValueError):
    """The file cannot be trained on; ``line`` is 1-based (0 when the file as a whole is wrong)."""

    def __init__(self, line: int, reason: str, code_suffix: str = "file") -> None:
        self.line = line
        self.reason = reason
        self.code_suffix = code_suffix
        super().__init__(f"Line {line}: {reason}" if line else reason)


@dataclass(frozen=True)
class Example:
    """One training example, reduced to what the emulator uses."""

    system: str | None
    prompt: str
    reply: dict[str, Any]  # the assistant message the fine-tuned model learns to give
    tokens: int  # cookbook count, not yet capped at the model's limit


@dataclass(frozen=True)
class ParsedFile:
    examples: list[Example]
    billed_tokens: int  # each example capped at the model's token limit
    n_over_limit: int

    @property
    def mean_tokens(self) -> float:
        return sum(e.tokens for e in self.examples) / len(self.examples) if self.examples else 0.0


def messages_tokens(messages: list[dict[str, Any]], encoding: str) -> int:
    """A chat completion's prompt tokens: the cookbook formula, counted by the validator's own counter."""
    return TokenCounter(encoding).chat({"messages": messages}).total


def example_tokens(raw: dict[str, Any], encoding: str) -> int:
    """Tokens of one training line, by the same rule the dataset validator reports (docs/datasets.md)."""
    counter = TokenCounter(encoding)
    return (counter.chat(raw) if "messages" in raw else counter.preference(raw)).total


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _check_messages(messages: Any, line: int, *, where: str = "messages") -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise DataFileError(line, f"'{where}' must be a non-empty list of messages")
    for index, message in enumerate(messages, start=1):
        if not isinstance(message, dict):
            raise DataFileError(line, f"message {index} is not a JSON dictionary")
        role = message.get("role")
        if role not in CHAT_ROLES:
            raise DataFileError(line, f"message {index} has an unrecognized role: {role!r}")
        unknown = set(message) - MESSAGE_KEYS
        if unknown:
            raise DataFileError(line, f"message {index} has unrecognized keys: {sorted(unknown)}")
        content = message.get("content")
        has_call = bool(message.get("tool_calls") or message.get("function_call"))
        if content is None and not (role == "assistant" and has_call):
            raise DataFileError(line, f"message {index} is missing content")
        if content is not None and not isinstance(content, str | list):
            raise DataFileError(line, f"message {index} has content that is not a string")
        if "tool_calls" in message and not isinstance(message["tool_calls"], list):
            raise DataFileError(line, f"message {index} has 'tool_calls' that is not a list")
        if "weight" in message and message["weight"] not in (0, 1):
            raise DataFileError(line, f"message {index} has a weight other than 0 or 1")
    return messages


def _example_from_messages(messages: list[dict[str, Any]], reply: dict[str, Any], tokens: int) -> Example:
    system = next((_text(m.get("content")) for m in messages if m["role"] in ("system", "developer")), None)
    prompt = next((_text(m.get("content")) for m in reversed(messages) if m["role"] == "user"), "")
    return Example(system=system, prompt=prompt, reply=reply, tokens=tokens)


def _parse_chat(raw: dict[str, Any], line: int, encoding: str) -> Example:
    if "messages" not in raw:
        raise DataFileError(line, "missing the 'messages' list (chat format is required for this model)")
    messages = _check_messages(raw["messages"], line)
    targets = [i for i, m in enumerate(messages) if m["role"] == "assistant" and m.get("weight", 1) != 0]
    if not targets:
        raise DataFileError(line, "example has no assistant message to train on")
    last = targets[-1]
    return _example_from_messages(messages[:last], messages[last], example_tokens(raw, encoding))


def _parse_preference(raw: dict[str, Any], line: int, encoding: str) -> Example:
    source = raw.get("input")
    if not isinstance(source, dict):
        raise DataFileError(line, "missing the 'input' object (preference format is required for DPO)")
    messages = _check_messages(source.get("messages"), line, where="input.messages")
    for key in ("preferred_output", "non_preferred_output"):
        outputs = _check_messages(raw.get(key), line, where=key)
        if outputs[-1]["role"] != "assistant":
            raise DataFileError(line, f"'{key}' must end with an assistant message")
    return _example_from_messages(messages, raw["preferred_output"][-1], example_tokens(raw, encoding))


def parse_file(content: bytes, *, method: str, encoding: str, token_limit: int,
               min_examples: int = 0) -> ParsedFile:
    """Parse and validate a JSONL fine-tuning file; raises :class:`DataFileError` at the first fault."""
    lines = content.split(b"\n")
    while lines and not lines[-1].strip():
        lines.pop()  # a trailing newline (or several) ends the file; it is not an empty example
    if not lines:
        raise DataFileError(0, "The file is empty")
    examples: list[Example] = []
    for number, raw_line in enumerate(lines, start=1):
        if number == 1 and raw_line.startswith(b"\xef\xbb\xbf"):
            raw_line = raw_line[3:]
        try:
            text = raw_line.decode("utf-8")
        except UnicodeDecodeError:
            raise DataFileError(number, "is not valid UTF-8") from None
        if not text.strip():
            raise DataFileError(number, "is empty; every line must be one JSON object")
        try:
            raw = json.loads(text)
        except json.JSONDecodeError:
            raise DataFileError(number, "is not valid JSON; the file must be JSONL, one JSON object per line") from None
        if not isinstance(raw, dict):
            raise DataFileError(number, "is not a JSON dictionary; the file must be JSONL, one object per line")
        parser = _parse_preference if method == "dpo" else _parse_chat
        examples.append(parser(raw, number, encoding))
    if len(examples) < min_examples:
        raise DataFileError(
            0, f"Training file has {len(examples)} example(s), but must have at least {min_examples} examples",
            code_suffix="n_examples",
        )
    billed = sum(min(e.tokens, token_limit) for e in examples)
    return ParsedFile(examples, billed, sum(1 for e in examples if e.tokens > token_limit))
