"""Logs a machine can search: one JSON object per line, carrying ``job_id`` and ``tenant_id``.

``FINETUNER_LOG_FORMAT=json`` turns it on (``text`` stays the default for people at a terminal).
Which job a line is about comes from, in order: the record's own ``extra`` (the job service passes
it), or the context bound around a unit of work (``bind(job_id=…)``: the worker binds each task's
job). Every message and traceback goes through the provider layer's redaction before it is written,
so a secret that reached a log call still never reaches the log.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CONTEXT_FIELDS = ("job_id", "tenant_id")
_EMPTY: dict[str, str] = {}  # never mutated: each bind sets a new dict
_context: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("finetuner_log_context",
                                                                         default=_EMPTY)


@contextmanager
def bind(**fields: str | None) -> Iterator[None]:
    """Every log line inside carries these fields (``None`` values are left out)."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def bind_now(**fields: str | None) -> contextvars.Token[dict[str, str]]:
    """``bind`` for code that starts and ends a unit of work in two callbacks (Celery's signals)."""
    return _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})


def unbind(token: contextvars.Token[dict[str, str]]) -> None:
    _context.reset(token)


class ContextFilter(logging.Filter):
    """Copies the bound fields onto each record that does not carry them already."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _context.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        from core.providers.redaction import redact

        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "level": record.levelname.lower(), "logger": record.name, "message": redact(record.getMessage()),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = str(value)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure(log_format: str = "text", level: int | str = logging.INFO) -> None:
    """Replace the root logger's handlers with one on stderr, in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
