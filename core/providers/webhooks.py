"""Verification of webhooks a provider sends us (OpenAI's, signed the Standard Webhooks way).

Uses the SDK's own ``webhooks.unwrap`` so our check is exactly the one OpenAI documents: HMAC over
``{id}.{timestamp}.{body}`` with the ``whsec_`` secret, timestamps older or newer than 300 s refused.
No network call is made; the client here exists only to reach that method.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import openai


class WebhookRejected(ValueError):
    """Forged, stale, malformed, or no secret configured to check it with."""


@dataclass(frozen=True)
class ProviderWebhookEvent:
    id: str
    type: str
    provider_job_id: str | None
    raw: dict[str, Any]


@cache
def _verifier(secret: str) -> openai.OpenAI:
    return openai.OpenAI(api_key="unused-webhook-verification-only", webhook_secret=secret, max_retries=0)


def unwrap_openai_webhook(body: bytes, headers: Mapping[str, str], secret: str | None) -> ProviderWebhookEvent:
    if not secret:
        raise WebhookRejected("no OPENAI_WEBHOOK_SECRET is configured; provider webhooks cannot be verified")
    try:
        event = _verifier(secret).webhooks.unwrap(body, dict(headers))
    except openai.InvalidWebhookSignatureError as exc:
        raise WebhookRejected("signature does not match, or the timestamp is outside 300 s") from exc
    except (ValueError, TypeError) as exc:  # missing headers, malformed JSON
        raise WebhookRejected(f"malformed webhook: {type(exc).__name__}") from exc
    raw: dict[str, Any] = event.model_dump()
    data = raw.get("data") or {}
    return ProviderWebhookEvent(id=str(raw.get("id", "")), type=str(raw.get("type", "")),
                                provider_job_id=data.get("id") if isinstance(data, dict) else None, raw=raw)
