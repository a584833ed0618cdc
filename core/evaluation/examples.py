"""Held-out examples from a dataset's canonical JSONL: the messages to ask, and the truth.

Each example's last assistant message is the truth; the model is asked with the messages before
it. An example with no assistant reply, or whose reply is not text, cannot be scored and is
refused up front with its line number (422), rather than discovered mid-run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import Unprocessable

_KEPT_KEYS = ("role", "content", "name")


@dataclass(frozen=True)
class HeldOut:
    index: int
    messages: list[dict[str, Any]]
    truth: str


def _split_example(raw: dict[str, Any]) -> tuple[list[dict[str, Any]], str] | None:
    messages = raw.get("messages")
    if not isinstance(messages, list):
        return None
    for position in range(len(messages) - 1, -1, -1):
        message = messages[position]
        if isinstance(message, dict) and message.get("role") == "assistant":
            content = message.get("content")
            if not isinstance(content, str) or position == 0:
                return None
            asked = [{k: m[k] for k in _KEPT_KEYS if k in m} for m in messages[:position] if isinstance(m, dict)]
            return asked, content
    return None


def iter_examples(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open("rb") as stream:
        index = 0
        for line in stream:
            if line.isspace() or not line:
                continue
            yield index, json.loads(line)
            index += 1


def read_held_out(path: Path, *, dataset_id: str, limit: int | None = None) -> list[HeldOut]:
    examples = []
    for index, raw in iter_examples(path):
        if limit is not None and index >= limit:
            break
        split = _split_example(raw)
        if split is None:
            raise Unprocessable(
                f"dataset {dataset_id} example {index + 1} has no assistant text reply after the prompt; "
                f"each held-out example's last assistant message is its truth",
                details={"param": "dataset_id", "line": index + 1})
        examples.append(HeldOut(index, *split))
    return examples


def training_replies(path: Path) -> list[str]:
    """The last assistant text of every training example (what the baseline is computed from)."""
    replies = []
    for _, raw in iter_examples(path):
        split = _split_example(raw)
        if split is not None:
            replies.append(split[1])
    return replies
