"""``/v1/webhooks``: client receivers for job status changes, and each delivery attempt's record.

The signing secret (``whsec_…``) is in the creation response only; afterwards it exists solely
encrypted in the database. Receivers verify with any Standard Webhooks library.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import After, Limit, SessionDep, SettingsDep, TenantDep
from api.errors import COMMON_ERRORS
from api.schemas import Page, UTCDateTime
from core import webhooks
from core.models import Webhook, WebhookAttempt, WebhookDelivery

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=COMMON_ERRORS)


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, Field(min_length=8, max_length=2048, examples=["https://example.com/finetuner"])]
    events: Annotated[list[str], Field(min_length=1, max_length=50, examples=[["job.*"]],
                                       description="'*', 'job.*', 'evaluation.*', 'sweep.*', 'job.<status>', "
                                                   "'job.overfitting_suspected', 'evaluation.<status>' or "
                                                   "'sweep.<status>'")]


class WebhookOut(BaseModel):
    id: str = Field(examples=["wh_01m8584q7x00axe6tmxbdv9m"])
    object: Literal["webhook"] = "webhook"
    url: str
    events: list[str]
    created_at: UTCDateTime

    @classmethod
    def from_row(cls, row: Webhook) -> WebhookOut:
        return cls(id=row.id, url=row.url, events=list(row.events), created_at=row.created_at)


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing secret. Shown once: store it now.")


class AttemptOut(BaseModel):
    attempted_at: UTCDateTime
    status_code: int | None
    latency_ms: float
    error: str | None

    @classmethod
    def from_row(cls, row: WebhookAttempt) -> AttemptOut:
        return cls(attempted_at=row.attempted_at, status_code=row.status_code, latency_ms=row.latency_ms,
                   error=row.error)


class DeliveryOut(BaseModel):
    id: str = Field(description="Also the `webhook-id` header of every attempt")
    object: Literal["webhook.delivery"] = "webhook.delivery"
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    created_at: UTCDateTime
    next_attempt_at: UTCDateTime | None
    delivered_at: UTCDateTime | None
    attempts: list[AttemptOut]

    @classmethod
    def from_rows(cls, row: WebhookDelivery, attempts: list[WebhookAttempt]) -> DeliveryOut:
        pending = row.status == "pending"
        status: Literal["pending", "delivered", "failed"] = (
            "pending" if pending else "delivered" if row.status == "delivered" else "failed")
        next_at: dt.datetime | None = row.next_attempt_at if pending else None
        return cls(id=row.id, event_type=row.event_type, status=status, created_at=row.created_at,
                   next_attempt_at=next_at, delivered_at=row.delivered_at,
                   attempts=[AttemptOut.from_row(a) for a in attempts])


@router.post("", status_code=201, response_model=WebhookCreated, summary="Register a receiver")
def create_webhook(body: WebhookCreate, session: SessionDep, tenant: TenantDep, settings: SettingsDep
                   ) -> WebhookCreated:
    row, secret = webhooks.create_webhook(session, tenant.id, body.url, body.events, settings)
    session.commit()
    return WebhookCreated(**WebhookOut.from_row(row).model_dump(exclude={"object"}), secret=secret)


@router.get("", response_model=Page[WebhookOut], summary="List receivers, newest first")
def list_webhooks(session: SessionDep, tenant: TenantDep, limit: Limit = 20, after: After = None
                  ) -> Page[WebhookOut]:
    rows, has_more = webhooks.list_webhooks(session, tenant.id, limit=limit, after=after)
    return Page[WebhookOut](data=[WebhookOut.from_row(r) for r in rows], has_more=has_more)


@router.get("/{webhook_id}", response_model=WebhookOut, summary="Get a receiver (never its secret)")
def read_webhook(webhook_id: str, session: SessionDep, tenant: TenantDep) -> WebhookOut:
    return WebhookOut.from_row(webhooks.get_webhook(session, tenant.id, webhook_id))


@router.delete("/{webhook_id}", status_code=204, summary="Stop sending to a receiver")
def delete_webhook(webhook_id: str, session: SessionDep, tenant: TenantDep) -> Response:
    webhooks.delete_webhook(session, tenant.id, webhook_id)
    session.commit()
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=Page[DeliveryOut],
            summary="Deliveries to a receiver, newest first, each with every attempt")
def list_deliveries(webhook_id: str, session: SessionDep, tenant: TenantDep, limit: Limit = 20,
                    after: After = None) -> Page[DeliveryOut]:
    rows, has_more = webhooks.list_deliveries(session, tenant.id, webhook_id, limit=limit, after=after)
    return Page[DeliveryOut](data=[DeliveryOut.from_rows(d, a) for d, a in rows], has_more=has_more)
