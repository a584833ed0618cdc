"""Training files for the emulator's tests."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def shared_dir() -> Path:
    """The project's ``../shared`` (OpenAPI subset, datasets): tests may read it, the product never does.

    ``FINETUNER_SHARED_DIR`` wins; otherwise the sibling of the checkout, then ``/work/shared``
    (where a clone made elsewhere, e.g. by CI, still finds it).
    """
    candidates = [Path(os.environ["FINETUNER_SHARED_DIR"])] if os.environ.get("FINETUNER_SHARED_DIR") else []
    candidates += [Path(__file__).resolve().parents[2].parent / "shared", Path("/work/shared")]
    for candidate in candidates:
        if (candidate / "openai" / "openapi-finetuning-subset.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"the shared directory (OpenAPI subset, datasets) is not in any of {candidates}")


SHARED_DATASETS = shared_dir() / "datasets"

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
