"""Prefixed, time-ordered ids.

Ids sort by creation time (a millisecond timestamp in Crockford base32, then randomness), so
"newest first" is ``ORDER BY id DESC`` and an ``after`` cursor is a plain ``id < :after``.
Prefixes say what an id names and cannot be confused with one another.
"""

from __future__ import annotations

import secrets
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
_lock = threading.Lock()
_last_ms = 0
_counter = 0

PREFIXES = {
    "tenant": "ten",
    "api_key": "key",
    "dataset": "ds",
    "job": "job",
    "checkpoint": "ckpt",
    "provider_file": "pf",
    "webhook": "wh",
    "delivery": "whd",
    "evaluation": "eval",
    "sweep": "sweep",
}


def _encode(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """``{prefix}_{10 chars of ms timestamp}{4 chars of per-ms counter}{10 random chars}``."""
    global _last_ms, _counter
    with _lock:
        now_ms = int(time.time() * 1000)
        if now_ms <= _last_ms:
            now_ms = _last_ms
            _counter += 1
        else:
            _last_ms = now_ms
            _counter = secrets.randbelow(1 << 10)  # start low, leave room to count within one ms
        counter = _counter
    return f"{prefix}_{_encode(now_ms, 10)}{_encode(counter, 4)}{_encode(secrets.randbits(50), 10)}"
