"""Object ids shaped like OpenAI's (``file-…``, ``ftjob-…``, ``ftevent-…``, ``ftckpt_…``).

Random rather than seeded: an emulator restarted with the same seed must not hand out an id that a
client stored from the previous run for a different object. What the seed makes reproducible is
behaviour (curves, faults), not names.
"""

from __future__ import annotations

import secrets
import string
import uuid

_ALPHABET = string.ascii_letters + string.digits


def random_token(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def file_id() -> str:
    return "file-" + random_token(22)


def job_id() -> str:
    return "ftjob-" + random_token(24)


def together_job_id() -> str:
    """Together's job ids look like ``ft-`` and a UUID."""
    return "ft-" + str(uuid.uuid4())


def event_id() -> str:
    return "ftevent-" + random_token(24)


def checkpoint_id() -> str:
    return "ftckpt_" + random_token(24)


def model_tag() -> str:
    """The last segment of ``ft:{model}:{org}:{suffix}:{tag}``."""
    return random_token(8)


def completion_id() -> str:
    return "chatcmpl-" + random_token(29)


def call_id() -> str:
    return "call_" + random_token(24)


def webhook_event_id() -> str:
    return "evt_" + secrets.token_hex(16)


def request_id() -> str:
    return "req_" + secrets.token_hex(16)
