"""Cursor pages the way OpenAI's lists page: ``after`` is the id of the last item already seen."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from emulator.errors import bad_request

T = TypeVar("T")


def check_limit(limit: int | None, default: int, maximum: int = 10_000) -> int:
    if limit is None:
        return default
    if not 1 <= limit <= maximum:
        raise bad_request(f"Invalid 'limit': must be between 1 and {maximum}, got {limit}.", param="limit",
                          code="invalid_value")
    return limit


def paginate(items: Sequence[T], after: str | None, limit: int, key: Callable[[T], str]) -> tuple[list[T], bool]:
    """The page of ``items`` (already in list order) that follows ``after``, and whether more follow."""
    start = 0
    if after:
        position = next((i for i, item in enumerate(items) if key(item) == after), None)
        if position is None:
            raise bad_request(f"No object with id '{after}' in this list to page after.", param="after")
        start = position + 1
    page = list(items[start:start + limit])
    return page, start + limit < len(items)
