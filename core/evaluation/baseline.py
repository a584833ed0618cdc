"""The trivial predictor, from the job's training data, with no model call.

Numbers: the training mean. Labels (and text, JSON): the most common training reply. Every report
shows it, so "did fine-tuning help?" has an answer even when the base model cannot answer in the
right form at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from core.evaluation import parse
from core.evaluation.metrics import Task


def compute_baseline(task: Task, replies: Sequence[str]) -> dict[str, Any]:
    """``{"kind", "answer", "from_examples", ...}``; ``answer`` is what each baseline item says."""
    if task == "number":
        values = [v for v in (parse.parse_number(r) for r in replies) if v is not None]
        if not values:
            return {"kind": "mean", "answer": None, "value": None, "from_examples": len(replies), "parsed": 0}
        mean = sum(values) / len(values)
        return {"kind": "mean", "answer": repr(mean), "value": mean, "from_examples": len(replies),
                "parsed": len(values)}
    if task == "label":
        labels = Counter(label for label in (parse.normalise_label(r) for r in replies) if label)
        if not labels:
            return {"kind": "majority", "answer": None, "value": None, "from_examples": len(replies)}
        label, count = sorted(labels.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        return {"kind": "majority", "answer": label, "value": label, "share": count / sum(labels.values()),
                "from_examples": len(replies)}
    counts = Counter(replies)
    if not counts:
        return {"kind": "majority", "answer": None, "value": None, "from_examples": 0}
    reply, count = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]
    return {"kind": "majority", "answer": reply, "value": reply, "share": count / len(replies),
            "from_examples": len(replies)}
