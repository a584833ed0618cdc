"""``/v1/provider-webhooks/openai``: OpenAI tells us a job ended; we sync it now.

No API key here: the signature (``OPENAI_WEBHOOK_SECRET``) is the authentication. The body is read
raw because the signature covers the exact bytes.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel

from api.deps import SessionDep, SettingsDep
from api.errors import COMMON_ERRORS
from core.provider_webhooks import receive_openai_webhook

router = APIRouter(prefix="/v1/provider-webhooks", tags=["provider webhooks"], responses=COMMON_ERRORS)


class ProviderWebhookAck(BaseModel):
    received: Literal[True] = True
    event_id: str
    event_type: str
    sync_enqueued: bool


# The body is read raw (the signature covers its bytes), so FastAPI cannot see these: documented here.
SIGNATURE_HEADERS = {"parameters": [
    {"name": name, "in": "header", "required": True, "schema": {"type": "string"}, "description": description}
    for name, description in (("webhook-id", "Standard Webhooks message id (replays are answered 200, once acted on)"),
                              ("webhook-timestamp", "Unix seconds; outside the tolerance window is refused"),
                              ("webhook-signature", "v1,<base64 HMAC-SHA256> with OPENAI_WEBHOOK_SECRET"))
], "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}}


@router.post("/openai", response_model=ProviderWebhookAck, summary="Receive an OpenAI webhook",
             openapi_extra=SIGNATURE_HEADERS)
async def receive_openai(request: Request, session: SessionDep, settings: SettingsDep) -> ProviderWebhookAck:
    body = await request.body()
    event, job = receive_openai_webhook(session, body, request.headers, settings)
    session.commit()
    return ProviderWebhookAck(event_id=event.id, event_type=event.type, sync_enqueued=job is not None)
