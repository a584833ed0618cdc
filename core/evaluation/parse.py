"""Reading an answer: a number, a label, normalised text or a JSON object out of a model's reply.

Robust on purpose: models write "$1,234.50", "about 1.2k" or "The price is 35." A reply with no
number is *unparsed* — reported and listed, never counted as zero (counting it as $0 is how a
base model's RMSE silently becomes meaningless).
"""

from __future__ import annotations

import json
import re
import string
from typing import Any

# A number as people write prices: optional sign and currency sign, thousands separators,
# decimals, an optional k / m / b suffix ("1.2k"), an optional percent sign (kept as a plain number).
_NUMBER = re.compile(
    r"(?P<sign>[-\u2212])?\s*[$€£¥]?\s*"
    r"(?P<int>\d{1,3}(?:,\d{3})+|\d+)?(?P<frac>\.\d+)?"
    r"(?:(?P<suffix>[kKmMbB])(?![A-Za-z]))?"
)
_SUFFIX = {"k": 1e3, "m": 1e6, "b": 1e9}
_PUNCT = str.maketrans("", "", string.punctuation)


def parse_number(text: str | None) -> float | None:
    """The first number in ``text`` ("$1,234.50" → 1234.5, "1.2k" → 1200.0), or ``None``."""
    if not text:
        return None
    for match in _NUMBER.finditer(text):
        whole, frac = match.group("int"), match.group("frac")
        if whole is None and frac is None:
            continue
        value = float((whole or "0").replace(",", "") + (frac or ""))
        suffix = match.group("suffix")
        if suffix:
            value *= _SUFFIX[suffix.lower()]
        if match.group("sign"):
            value = -value
        return value
    return None


def normalise_label(text: str | None) -> str | None:
    """Case, surrounding whitespace, quotes and trailing punctuation do not make a different label."""
    if text is None:
        return None
    cleaned = text.strip().strip("\"'`").strip().rstrip(".!").strip().casefold()
    return cleaned or None


def normalise_text(text: str | None) -> str:
    """SQuAD-style normalisation for exact match: lower case, no punctuation, single spaces."""
    if not text:
        return ""
    return " ".join(text.casefold().translate(_PUNCT).split())


def tokens(text: str | None) -> list[str]:
    return normalise_text(text).split()


def parse_json(text: str | None) -> tuple[bool, Any]:
    """``(valid, value)`` of the reply as JSON; a fenced ```json block is unwrapped first."""
    if text is None:
        return False, None
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.strip("`").strip()
        stripped = stripped.removeprefix("json").strip()
    try:
        return True, json.loads(stripped)
    except ValueError:
        return False, None
