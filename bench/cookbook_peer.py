"""The peer: OpenAI's cookbook notebook "Data preparation and analysis for chat model fine-tuning", whole.

This is the tool users actually run before a fine-tune, kept as the notebook writes it: the file
loaded into a list, every format check, ``num_tokens_from_messages`` and
``num_assistant_tokens_from_messages`` (a second pass over the assistant messages), the three
distributions (numpy), the warnings pass and the epoch / billing heuristic. The only change is the
tokenizer's source: the notebook calls ``tiktoken.get_encoding`` (a download), we build the same
tiktoken encoding from the shipped file. Prints (as JSON) what the notebook prints.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from typing import Any

import numpy as np

from core.datasets.tokens import get_encoding

MAX_TOKENS_PER_EXAMPLE = 16385
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25


def cookbook_check(data_path: str) -> dict[str, Any]:
    # Load the dataset
    with open(data_path, encoding="utf-8") as f:
        dataset = [json.loads(line) for line in f]

    # Format error checks
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

    # not exact!
    # simplified from https://github.com/openai/openai-cookbook/blob/main/examples/How_to_count_tokens_with_tiktoken.ipynb
    def num_tokens_from_messages(messages: list[dict[str, Any]], tokens_per_message: int = 3,
                                 tokens_per_name: int = 1) -> int:
        num_tokens = 0
        for message in messages:
            num_tokens += tokens_per_message
            for key, value in message.items():
                num_tokens += len(encoding.encode(value))
                if key == "name":
                    num_tokens += tokens_per_name
        num_tokens += 3
        return num_tokens

    def num_assistant_tokens_from_messages(messages: list[dict[str, Any]]) -> int:
        num_tokens = 0
        for message in messages:
            if message["role"] == "assistant":
                num_tokens += len(encoding.encode(message["content"]))
        return num_tokens

    def print_distribution(values: list[int], name: str) -> dict[str, float]:  # noqa: ARG001 (the notebook's signature)
        return {"min": float(np.min(values)), "max": float(np.max(values)), "mean": float(np.mean(values)),
                "median": float(np.median(values)), "p10": float(np.quantile(values, 0.1)),
                "p90": float(np.quantile(values, 0.9))}

    # Warnings and tokens counts
    n_missing_system = 0
    n_missing_user = 0
    n_messages = []
    convo_lens = []
    assistant_message_lens = []
    for ex in dataset:
        messages = ex["messages"]
        if not any(message["role"] == "system" for message in messages):
            n_missing_system += 1
        if not any(message["role"] == "user" for message in messages):
            n_missing_user += 1
        n_messages.append(len(messages))
        convo_lens.append(num_tokens_from_messages(messages))
        assistant_message_lens.append(num_assistant_tokens_from_messages(messages))
    distributions = {
        "num_messages_per_example": print_distribution(n_messages, "num_messages_per_example"),
        "num_total_tokens_per_example": print_distribution(convo_lens, "num_total_tokens_per_example"),
        "num_assistant_tokens_per_example": print_distribution(assistant_message_lens,
                                                               "num_assistant_tokens_per_example"),
    }
    n_too_long = sum(length > MAX_TOKENS_PER_EXAMPLE for length in convo_lens)

    # Cost estimation
    n_epochs = TARGET_EPOCHS
    n_train_examples = len(dataset)
    if n_train_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        n_epochs = min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_train_examples)
    elif n_train_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        n_epochs = max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_train_examples)
    n_billing_tokens_in_dataset = sum(min(MAX_TOKENS_PER_EXAMPLE, length) for length in convo_lens)
    return {"num_examples": len(dataset), "format_errors": dict(format_errors), "n_missing_system": n_missing_system,
            "n_missing_user": n_missing_user, "distributions": distributions, "n_too_long": n_too_long,
            "total_tokens": sum(convo_lens), "assistant_tokens": sum(assistant_message_lens),
            "billed_tokens": n_billing_tokens_in_dataset, "n_epochs": n_epochs,
            "charged_tokens": n_epochs * n_billing_tokens_in_dataset}


if __name__ == "__main__":
    print(json.dumps(cookbook_check(sys.argv[1])))
