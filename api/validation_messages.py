"""One sentence per failing field, saying the real constraint, for a 400's top-level ``message``.

Pydantic reports a union (``n_epochs: "auto" | int ≥ 1``) as one error per branch, tagged with
the branch's name in the location; its first error then reads ``Input should be 'auto'`` and the
real reason (``≥ 1``) hides in ``details``. Here the branches of one field are merged back into
``hyperparameters.n_epochs must be ≥ 1 or "auto" (got -1)``. ``details`` keeps pydantic's list.

Only short inputs are quoted back (numbers, booleans, strings up to ``ECHO_CHARS``): the caller
sent them, but a long string may be a pasted secret that has no business in a response or a log.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

ECHO_CHARS = 16
_SOURCES = {"body", "query", "path", "header", "cookie"}
# Location segments that name a union branch or a validator wrapper, not a field.
_BRANCH = re.compile(r"^(literal\[.*\]|constrained-\w+|int|float|str|bool|none|list\[.*\]|dict\[.*\]|"
                     r"function-\w+\[.*\]|nullable\[.*\]|tagged-union\[.*\]|lax-or-strict\[.*\]|"
                     r"json-or-python\[.*\]|is-instance\[.*\])$")

_TYPES = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "float_type": "a number", "float_parsing": "a number", "string_type": "a string",
    "bool_type": "true or false", "bool_parsing": "true or false", "dict_type": "an object",
    "model_type": "an object", "model_attributes_type": "an object", "list_type": "a list",
    "url_type": "a URL", "url_parsing": "a valid URL", "uuid_type": "a UUID",
}
_BOUNDS = {"greater_than_equal": ("ge", "≥"), "greater_than": ("gt", ">"), "less_than_equal": ("le", "≤"),
           "less_than": ("lt", "<"), "multiple_of": ("multiple_of", "a multiple of")}


def _field(loc: Sequence[Any]) -> str:
    parts = [p for p in loc if not (isinstance(p, str) and _BRANCH.match(p))]
    if parts and parts[0] in _SOURCES:
        source, parts = parts[0], parts[1:]
        if not parts:
            return "the request body" if source == "body" else f"the {source}"
        if source != "body":
            return f"{source} parameter {'.'.join(str(p) for p in parts)}"
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in parts).replace(".[", "[") or "the request"


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _plural(n: Any, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _constraint(error: dict[str, Any]) -> tuple[str, str]:
    """(kind, phrase): kind "literal" alternatives go last ("… or "auto""), "fixed" ones stand alone."""
    kind, ctx = error.get("type", ""), error.get("ctx") or {}
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return "literal", " or ".join(json.dumps(o) for o in options) or "one of the allowed values"
    if kind in _BOUNDS:
        key, symbol = _BOUNDS[kind]
        return "value", f"{symbol} {_number(ctx.get(key))}"
    if kind in _TYPES:
        return "value", _TYPES[kind]
    if kind == "string_too_long":
        return "value", f"at most {_plural(ctx.get('max_length'), 'character')}"
    if kind == "string_too_short":
        return "value", f"at least {_plural(ctx.get('min_length'), 'character')}"
    if kind == "too_long":
        return "value", f"at most {_plural(ctx.get('max_length'), 'item')}"
    if kind == "too_short":
        return "value", f"at least {_plural(ctx.get('min_length'), 'item')}"
    if kind == "string_pattern_mismatch":
        return "value", f"text matching {ctx.get('pattern')}"
    if kind == "enum":
        return "literal", str(ctx.get("expected", "one of the allowed values")).replace("'", '"')
    if kind == "missing":
        return "fixed", "is required"
    if kind == "extra_forbidden":
        return "fixed", "is not a known field"
    if kind == "json_invalid":
        return "fixed", f"is not valid JSON ({ctx.get('error', 'parse error')})"
    message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
    return "fixed", message[:1].lower() + message[1:]


def _got(value: Any, *, raw_text: bool) -> str:
    """``raw_text``: a query/path/header value is always text; show it as typed, unquoted."""
    if raw_text and isinstance(value, str) and len(value) <= ECHO_CHARS:
        return f" (got {value})"
    if isinstance(value, bool) or value is None:
        return f" (got {json.dumps(value)})"
    if isinstance(value, int | float):
        return f" (got {_number(value)})"
    if isinstance(value, str):
        if len(value) <= ECHO_CHARS:
            return f" (got {json.dumps(value)})"
        return f" (got {_plural(len(value), 'character')})"
    if isinstance(value, list):
        return f" (got a list of {_plural(len(value), 'item')})"
    if isinstance(value, dict):
        return " (got an object)"
    return ""


def describe(errors: Sequence[dict[str, Any]]) -> str:
    """``field must be … (got …); other field …`` for every failing field, in the order reported."""
    fields: dict[str, list[dict[str, Any]]] = {}
    for error in errors:
        fields.setdefault(_field(error.get("loc", ())), []).append(error)
    sentences = []
    for name, group in fields.items():
        phrases: dict[str, list[str]] = {"fixed": [], "value": [], "literal": []}
        for error in group:
            kind, phrase = _constraint(error)
            if phrase not in phrases[kind]:
                phrases[kind].append(phrase)
        if phrases["fixed"]:
            sentences.append(f"{name} {' and '.join(phrases['fixed'])}")
            continue
        alternatives = [" and ".join(phrases["value"])] if phrases["value"] else []
        alternatives += phrases["literal"]
        loc = group[0].get("loc", ())
        raw_text = bool(loc) and loc[0] in _SOURCES - {"body"}
        got = _got(group[0]["input"], raw_text=raw_text) if "input" in group[0] else ""
        sentences.append(f"{name} must be {' or '.join(alternatives)}{got}")
    return "; ".join(sentences) or "the request is malformed"
