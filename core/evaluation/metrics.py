"""Per-item scores and per-model metrics, computed only from what is stored for each item.

The same functions score an item when its answer arrives and recompute a model's metrics from
the stored items, so a report always equals a recomputation (a test checks it). Quality metrics
are computed over the answers that could be parsed; the parse rate stands beside them and the
unparsed items are listed by index, so an answer with no number is never counted as zero.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from core.evaluation import parse

Task = Literal["number", "label", "text", "json"]
TASKS: tuple[Task, ...] = ("number", "label", "text", "json")
OTHER_LABEL = "(other)"  # a reply that is none of the known labels, one column of the confusion matrix

METRICS: dict[Task, tuple[str, ...]] = {
    "number": ("rmse", "mae", "mape", "within_pct"),
    "label": ("accuracy", "macro_f1", "confusion_matrix"),
    "text": ("exact_match", "token_f1"),
    "json": ("json_valid", "field_match"),
}
LOWER_IS_BETTER = frozenset({"rmse", "mae", "mape"})
DEFAULT_WITHIN_PCT = 10.0


@dataclass(frozen=True)
class Scored:
    """One answer, read: ``parsed`` is JSON-able (``None`` when unparsed); ``score`` as documented
    per task in :func:`score_answer`."""

    parsed: Any
    score: float | None


@dataclass(frozen=True)
class ItemView:
    """What metrics need from a stored item: its example index, the truth, the answer or the error."""

    index: int
    truth: str
    answer: str | None
    failed: bool = False


def _token_f1(truth: str, answer: str) -> float:
    truth_tokens, answer_tokens = parse.tokens(truth), parse.tokens(answer)
    if not truth_tokens and not answer_tokens:
        return 1.0
    common = sum((Counter(truth_tokens) & Counter(answer_tokens)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(answer_tokens), common / len(truth_tokens)
    return 2 * precision * recall / (precision + recall)


def _field_match(truth: Any, answer: Any) -> float | None:
    """Share of the truth object's fields the answer has with the same value (None: truth not an object)."""
    if not isinstance(truth, dict) or not truth:
        return None
    if not isinstance(answer, dict):
        return 0.0
    return sum(1 for key, value in truth.items() if key in answer and answer[key] == value) / len(truth)


def score_answer(task: Task, truth: str, answer: str | None, *, labels: frozenset[str] = frozenset()) -> Scored:
    """Read ``answer`` for ``task`` and score it against ``truth``.

    Scores: number → absolute error (lower is better); label → 1 if correct else 0; text → token
    F1; json → share of the truth's fields matched. ``labels`` are the known labels: a label reply
    outside them is unparsed (it still counts as wrong for accuracy).
    """
    if task == "number":
        value, expected = parse.parse_number(answer), parse.parse_number(truth)
        if value is None:
            return Scored(None, None)
        return Scored(value, abs(value - expected) if expected is not None else None)
    if task == "label":
        label, expected_label = parse.normalise_label(answer), parse.normalise_label(truth)
        known = label if label is not None and (not labels or label in labels) else None
        return Scored(known, 1.0 if label is not None and label == expected_label else 0.0)
    if task == "text":
        if answer is None:
            return Scored(None, None)
        return Scored(parse.normalise_text(answer), _token_f1(truth, answer))
    valid, value = parse.parse_json(answer)
    if not valid:
        return Scored(None, None)
    _, expected_value = parse.parse_json(truth)
    return Scored(value, _field_match(expected_value, value))


def known_labels(truths: Sequence[str], extra: Sequence[str] = ()) -> frozenset[str]:
    return frozenset(label for label in (parse.normalise_label(t) for t in (*truths, *extra)) if label)


def _number_metrics(items: Sequence[ItemView], within_pct: float) -> dict[str, Any]:
    pairs = []
    for item in items:
        value, expected = parse.parse_number(item.answer), parse.parse_number(item.truth)
        if value is not None and expected is not None:
            pairs.append((value, expected))
    if not pairs:
        return {"rmse": None, "mae": None, "mape": None, "within_pct": None, "within_pct_threshold": within_pct}
    errors = [value - expected for value, expected in pairs]
    relative = [abs(value - expected) / abs(expected) for value, expected in pairs if expected != 0]
    within = [abs(value - expected) <= within_pct / 100 * abs(expected) for value, expected in pairs]
    return {
        "rmse": math.sqrt(sum(e * e for e in errors) / len(errors)),
        "mae": sum(abs(e) for e in errors) / len(errors),
        "mape": 100 * sum(relative) / len(relative) if relative else None,
        "within_pct": sum(within) / len(within),
        "within_pct_threshold": within_pct,
    }


def _label_metrics(items: Sequence[ItemView], labels: frozenset[str]) -> dict[str, Any]:
    truths = [parse.normalise_label(item.truth) or "" for item in items]
    predicted = []
    for item in items:
        label = parse.normalise_label(item.answer)
        predicted.append(label if label is not None and label in labels else OTHER_LABEL)
    if not items:
        return {"accuracy": None, "macro_f1": None, "confusion_matrix": {"labels": [], "matrix": []}}
    classes = sorted(set(truths))
    columns = classes + sorted((set(predicted) - set(classes)) - {OTHER_LABEL})
    if OTHER_LABEL in predicted:
        columns.append(OTHER_LABEL)
    matrix = [[sum(1 for t, p in zip(truths, predicted, strict=True) if t == row and p == col) for col in columns]
              for row in classes]
    f1s = []
    for label in classes:
        tp = sum(1 for t, p in zip(truths, predicted, strict=True) if t == label and p == label)
        fp = sum(1 for t, p in zip(truths, predicted, strict=True) if t != label and p == label)
        fn = sum(1 for t, p in zip(truths, predicted, strict=True) if t == label and p != label)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    correct = sum(1 for t, p in zip(truths, predicted, strict=True) if t == p)
    return {
        "accuracy": correct / len(items),
        "macro_f1": sum(f1s) / len(f1s),
        "confusion_matrix": {"labels": classes, "predicted": columns, "matrix": matrix},
    }


def _text_metrics(items: Sequence[ItemView]) -> dict[str, Any]:
    answered = [item for item in items if item.answer is not None]
    if not answered:
        return {"exact_match": None, "token_f1": None}
    exact = [parse.normalise_text(i.truth) == parse.normalise_text(i.answer) for i in answered]
    return {"exact_match": sum(exact) / len(answered),
            "token_f1": sum(_token_f1(i.truth, i.answer or "") for i in answered) / len(answered)}


def _json_metrics(items: Sequence[ItemView]) -> dict[str, Any]:
    if not items:
        return {"json_valid": None, "field_match": None}
    valid = [parse.parse_json(item.answer) for item in items]
    matches = [m for (ok, value), item in zip(valid, items, strict=True) if ok
               for m in [_field_match(parse.parse_json(item.truth)[1], value)] if m is not None]
    return {"json_valid": sum(1 for ok, _ in valid if ok) / len(items),
            "field_match": sum(matches) / len(matches) if matches else None}


def compute(task: Task, items: Sequence[ItemView], *, within_pct: float = DEFAULT_WITHIN_PCT,
            labels: frozenset[str] = frozenset(), wanted: Sequence[str] | None = None) -> dict[str, Any]:
    """One model's report: counts, parse rate, unparsed indexes and the task's metrics.

    Failed calls (provider errors) are counted apart and left out of every rate; ``answered`` is
    what the rates are over.
    """
    answered = [item for item in items if not item.failed]
    scored = [(item, score_answer(task, item.truth, item.answer, labels=labels)) for item in answered]
    parsed = [item for item, result in scored if result.parsed is not None]
    unparsed = [item.index for item, result in scored if result.parsed is None]
    if task == "number":
        values = _number_metrics(parsed, within_pct)
    elif task == "label":
        values = _label_metrics(answered, labels)
    elif task == "text":
        values = _text_metrics(answered)
    else:
        values = _json_metrics(answered)
    if wanted:
        keep = set(wanted) | ({"within_pct_threshold"} if "within_pct" in wanted else set())
        values = {name: value for name, value in values.items() if name in keep}
    return {
        "total": len(items), "answered": len(answered), "failed": len(items) - len(answered),
        "parsed": len(parsed), "parse_rate": len(parsed) / len(answered) if answered else None,
        "unparsed": unparsed, "metrics": values,
    }


def better(metric: str, a: float, b: float) -> bool:
    """Whether ``a`` beats ``b`` on ``metric``."""
    return a < b if metric in LOWER_IS_BETTER else a > b
