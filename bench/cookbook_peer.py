"""The peer: OpenAI's cookbook notebook's checks, as written there (whole file loaded in memory).

Kept as close to the notebook as possible (the same loops and formula) so the comparison is fair;
the only change is the tokenizer's source, which the notebook downloads and we cannot.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from typing import Any

from core.datasets.tokens import get_encoding


def cookbook_check(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        dataset = [json.loads(line) for line in f]
    format_errors: defaultdict[str, int] = defaultdict(int)
    for ex in dataset:
        if not isinstance(ex, dict):
            format_errors["data_type"] += 1
            continue
        messages = ex.get("messages", None)
        if not messages:
            format_errors["missing_messages_list"] += 1
            continue
        for message in messages:
            if "role" not in message or "content" not in message:
                format_errors["message_missing_key"] += 1
            if any(k not in ("role", "content", "name", "function_call", "weight") for k in message):
                format_errors["message_unrecognized_key"] += 1
            if message.get("role", None) not in ("system", "user", "assistant", "function"):
                format_errors["unrecognized_role"] += 1
            content = message.get("content", None)
            function_call = message.get("function_call", None)
            if (not content and not function_call) or not isinstance(content, str):
                format_errors["missing_content"] += 1
        if not any(message.get("role", None) == "assistant" for message in messages):
            format_errors["example_missing_assistant_message"] += 1

    encoding = get_encoding("cl100k_base")

    def num_tokens_from_messages(messages: list[dict[str, Any]]) -> int:
        num_tokens = 0
        for message in messages:
            num_tokens += 3
            for key, value in message.items():
                num_tokens += len(encoding.encode(value))
                if key == "name":
                    num_tokens += 1
        return num_tokens + 3

    convo_lens = [num_tokens_from_messages(ex["messages"]) for ex in dataset]
    return {"num_examples": len(dataset), "format_errors": dict(format_errors),
            "billed_tokens": sum(min(16_385, n) for n in convo_lens)}


if __name__ == "__main__":
    print(json.dumps(cookbook_check(sys.argv[1])))
