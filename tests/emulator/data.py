"""Training files for the emulator's tests."""

from __future__ import annotations

import json
from typing import Any

SYSTEM = "You are a terse assistant for a fruit shop."
FRUITS = ["apple", "banana", "cherry", "damson", "elderberry", "fig", "grape", "huckleberry", "kiwi", "lemon",
          "mango", "nectarine", "orange", "papaya", "quince", "raspberry", "strawberry", "tangerine", "ugli",
          "vanilla", "watermelon", "xigua", "yuzu", "zucchini"]


def chat_example(i: int) -> dict[str, Any]:
    fruit = FRUITS[i % len(FRUITS)]
    return {"messages": [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"How much does one {fruit} cost in aisle {i}?"},
        {"role": "assistant", "content": f"One {fruit} in aisle {i} costs {i + 1} coins."},
    ]}


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return ("\n".join(json.dumps(r) for r in rows) + "\n").encode("utf-8")


def chat_file(n: int, start: int = 0) -> bytes:
    return jsonl([chat_example(i) for i in range(start, start + n)])
