"""Reading loosely typed provider payloads: each provider's SDK types most fields as optional or
``object``, so the converters read numbers and mappings through these, one rule for every provider."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def as_int(value: object) -> int | None:
    """An integer, or ``None``: a bool is not a count, and ``3.0`` is 3."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def as_dict(value: object) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}
