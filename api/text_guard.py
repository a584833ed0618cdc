"""No text reaches the database that it cannot store: NUL and lone surrogates answer 400 at the edge.

PostgreSQL's text columns refuse NUL (``psycopg.DataError``) and its UTF-8 encoding refuses lone
surrogates (which JSON's ``\\udXXX`` escapes can produce); either used to surface as a 500 from
whichever query first met the value, and it reset the keep-alive connection. One app-wide
dependency checks every path parameter, query parameter and JSON string (keys too) before the
route runs, and names the field; form fields and file names are checked by the upload parser.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from core.errors import BadRequest

JSON_TYPES = ("application/json", "application/merge-patch+json")


def unstorable(value: str) -> str | None:
    """Why ``value`` cannot be stored as text (``None``: it can)."""
    if "\x00" in value:
        return "contains a NUL character (\\u0000), which cannot be stored"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (it holds a lone surrogate)"
    return None


def check_text(where: str, value: str) -> None:
    reason = unstorable(value)
    if reason is not None:
        raise BadRequest(f"{where} {reason}", details={"param": where})


def _walk(where: str, value: Any) -> None:
    if isinstance(value, str):
        check_text(where, value)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(f"a key of {where}", key)
            _walk(f"{where}.{key}", item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(f"{where}[{index}]", item)


async def reject_unstorable_text(request: Request) -> None:
    """App-wide dependency: runs after the body was read (bounded by ``api.body_limit``), before the route."""
    for name, value in request.path_params.items():
        if isinstance(value, str):
            check_text(f"path.{name}", value)
    for name, value in request.query_params.multi_items():
        check_text("query parameter name", name)
        check_text(f"query.{name}", value)
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if request.method in ("POST", "PUT", "PATCH") and content_type in JSON_TYPES:
        body = await request.body()  # already read and cached by FastAPI's body parsing
        try:
            parsed = json.loads(body) if body else None
            _walk("body", parsed)
        except (ValueError, RecursionError):
            return  # malformed or absurdly nested JSON is the body parser's and the schema's 400
