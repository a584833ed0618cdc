"""Scrubbing secrets out of provider messages and out of the HTTP stack's log records.

OpenAI's 401 answer echoes part of the key ("Incorrect API key provided: sk-abc***xyz"), and
that message is what a failed job would store and show. Everything a provider error carries
passes through :func:`redact` first. The SDK's own ``SensitiveHeadersFilter`` only masks
``Authorization`` / ``api-key`` / ``x-amz-security-token`` when a record's args are a dict with a
``headers`` key, and only on the ``openai._base_client`` logger; the transport loggers
(``httpx2``, ``httpcore2.*``) log URLs and response headers without any filter. So
:func:`install_log_redaction` puts :class:`RedactingFilter` on every logger of that stack.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

REDACTED = "***"
_MIN_SECRET_LENGTH = 8  # shorter "secrets" would scrub ordinary words out of messages

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # OpenAI keys in all their forms (sk-..., sk-proj-..., masked "sk-abc***xyz").
    (re.compile(r"\bsk-[A-Za-z0-9_*\-.]{3,}"), f"sk-{REDACTED}"),
    # Standard Webhooks secrets.
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=_\-]+"), f"whsec_{REDACTED}"),
    # Credentials in header or query form.
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=\-*]+", re.IGNORECASE), rf"\1 {REDACTED}"),
    (
        re.compile(r"""\b(api[-_ ]?key|authorization|access[-_]?token|subscription[-_ ]?key)(["']?\s*[:=]\s*["']?)"""
                   r"""(?!(?:Bearer|Basic)\s)[^\s"',;}&]+""", re.IGNORECASE),
        rf"\1\2{REDACTED}",
    ),
    # "Incorrect API key provided: <anything>" whatever the key looks like (Azure keys are hex).
    (re.compile(r"(api key provided:\s*)\S+", re.IGNORECASE), rf"\1{REDACTED}"),
    # Any other masked token ("abcd****wxyz"): the visible ends are part of a real secret.
    (re.compile(r"[A-Za-z0-9_\-]*\*{4,}[A-Za-z0-9_\-]*"), REDACTED),
)

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a configured secret (the API key) so every later :func:`redact` scrubs it verbatim."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(value)


def redact(text: str, extra_secrets: Iterable[str | None] = ()) -> str:
    """``text`` with known secrets and anything key-shaped replaced by ``***``."""
    with _lock:
        known = set(_secrets)
    known.update(s for s in extra_secrets if s and len(s) >= _MIN_SECRET_LENGTH)
    # Longest first, so a key containing another registered value is scrubbed whole.
    for secret in sorted(known, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record's message through :func:`redact`; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logging's problem to report, not ours
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


_FILTER = RedactingFilter()
LOGGER_PREFIXES = ("openai", "httpx2", "httpcore2", "httpx", "httpcore")
# Loggers these libraries create lazily or in modules not imported yet; named so they are covered too.
_KNOWN_LOGGERS = (
    "openai",
    "openai._base_client",
    "httpx2",
    "httpx",
    "httpcore2.connection",
    "httpcore2.http11",
    "httpcore2.http2",
    "httpcore2.proxy",
    "httpcore2.socks",
    "httpcore2.connection_pool",
)


def install_log_redaction() -> None:
    """Attach :class:`RedactingFilter` to every logger of the OpenAI SDK and its HTTP stack.

    A logger's filters see only records created on that very logger (not its children's), so
    each one gets its own; calling this again is harmless and picks up loggers created since.
    """
    names = set(_KNOWN_LOGGERS)
    names.update(
        name
        for name in list(logging.Logger.manager.loggerDict)
        if name.split(".", 1)[0] in LOGGER_PREFIXES
    )
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
