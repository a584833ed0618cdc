"""Outbound webhooks: subscriptions, the outbox, and signed at-least-once delivery.

A delivery row is written in the same transaction as the change it announces (the outbox), so a
rolled-back change announces nothing and a committed one is never forgotten. Each delivery is sent
by its own task with a short timeout, so a slow receiver never delays another's. Retries reuse the
delivery id as ``webhook-id`` (Standard Webhooks), letting receivers drop duplicates.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session
from standardwebhooks import Webhook as Signer

from core import crypto, dispatch, telemetry
from core.backoff import Backoff
from core.claims import skip_locked
from core.config import Settings, get_settings
from core.errors import Unprocessable
from core.models import Webhook, WebhookAttempt, WebhookDelivery, utcnow
from core.scoping import get_owned, owned, page
from core.ssrf import post_checked, resolve_target
from core.states import DeliveryStatus, JobStatus
from core.tasknames import TaskName

log = logging.getLogger(__name__)

JOB_EVENTS = tuple(f"job.{status.value}" for status in JobStatus)
EVALUATION_EVENTS = tuple(f"evaluation.{s}" for s in ("queued", "running", "succeeded", "failed", "cancelled"))
SWEEP_EVENTS = tuple(f"sweep.{s}" for s in ("running", "succeeded", "failed", "cancelled"))
OVERFITTING_EVENT = "job.overfitting_suspected"
EVENT_TYPES = frozenset({*JOB_EVENTS, OVERFITTING_EVENT, *EVALUATION_EVENTS, *SWEEP_EVENTS})
WILDCARDS = frozenset({"*", "job.*", "evaluation.*", "sweep.*"})
MAX_RETRY_DELAY_SECONDS = 4 * 3600


@dataclass(frozen=True)
class SendResult:
    status_code: int | None
    latency_ms: float
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def validate_events(events: list[str]) -> list[str]:
    unknown = sorted(set(events) - EVENT_TYPES - WILDCARDS)
    if not events or unknown:
        raise Unprocessable(
            f"unknown event type(s) {unknown}; choose from {sorted(WILDCARDS)} or {sorted(EVENT_TYPES)}"
            if unknown else "give at least one event type",
            details={"param": "events"},
        )
    return sorted(set(events))


def check_target_url(url: str, settings: Settings | None = None) -> None:
    """Refuse receivers that are not http(s) or that resolve to internal addresses (SSRF, ``core.ssrf``).

    Checked at creation, and again by each attempt, which connects to the address it checked.
    """
    resolve_target(url, settings or get_settings())


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def create_webhook(session: Session, tenant_id: str, url: str, events: list[str],
                   settings: Settings | None = None) -> tuple[Webhook, str]:
    """Returns the row and the plaintext secret — the only time the secret leaves the service."""
    check_target_url(url, settings)
    secret = new_secret()
    webhook = Webhook(tenant_id=tenant_id, url=url, events=validate_events(events),
                      secret_encrypted=crypto.encrypt(secret, settings))
    session.add(webhook)
    session.flush()
    return webhook, secret


def get_webhook(session: Session, tenant_id: str, webhook_id: str) -> Webhook:
    webhook = get_owned(session, Webhook, tenant_id, webhook_id)
    if webhook.deleted_at is not None:
        get_owned(session, Webhook, tenant_id, "")  # raises the same NotFound as an unknown id
    return webhook


def list_webhooks(session: Session, tenant_id: str, *, limit: int, after: str | None) -> tuple[list[Webhook], bool]:
    query = owned(Webhook, tenant_id).where(Webhook.deleted_at.is_(None))
    return page(session, query, Webhook.id, limit=limit, after=after, newest_first=True)


def delete_webhook(session: Session, tenant_id: str, webhook_id: str) -> Webhook:
    webhook = get_webhook(session, tenant_id, webhook_id)
    webhook.deleted_at = utcnow()
    return webhook


def list_deliveries(session: Session, tenant_id: str, webhook_id: str, *, limit: int, after: str | None
                    ) -> tuple[list[tuple[WebhookDelivery, list[WebhookAttempt]]], bool]:
    get_webhook(session, tenant_id, webhook_id)
    query = owned(WebhookDelivery, tenant_id).where(WebhookDelivery.webhook_id == webhook_id)
    deliveries, has_more = page(session, query, WebhookDelivery.id, limit=limit, after=after, newest_first=True)
    result = []
    for delivery in deliveries:
        attempts = session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id)
                                   .order_by(WebhookAttempt.id)).all()
        result.append((delivery, list(attempts)))
    return result, has_more


def _subscribed(webhook: Webhook, event_type: str) -> bool:
    events = set(webhook.events)
    family = event_type.split(".", 1)[0] + ".*"
    return "*" in events or event_type in events or family in events


def announce(session: Session, tenant_id: str, event_type: str, data: dict[str, Any]) -> list[WebhookDelivery]:
    """Write one outbox row per subscribed receiver, in the caller's transaction."""
    webhooks = session.scalars(owned(Webhook, tenant_id).where(Webhook.deleted_at.is_(None))).all()
    deliveries = []
    for webhook in webhooks:
        if not _subscribed(webhook, event_type):
            continue
        delivery = WebhookDelivery(webhook_id=webhook.id, tenant_id=tenant_id, event_type=event_type, payload=data)
        session.add(delivery)
        deliveries.append(delivery)
    if deliveries:
        session.flush()
        for delivery in deliveries:
            dispatch.defer(session, TaskName.DELIVER_WEBHOOK, delivery_id=delivery.id)
    return deliveries


def redelivery_backoff(settings: Settings | None = None) -> Backoff:
    """Exponential (x4) from the configured base, capped at 4 h, with ±10 % jitter."""
    base = (settings or get_settings()).webhook_retry_base_seconds
    return Backoff(initial=base, factor=4.0, cap=MAX_RETRY_DELAY_SECONDS, jitter=(0.9, 1.1))


def retry_delay_seconds(attempts: int, settings: Settings | None = None) -> float:
    return redelivery_backoff(settings).delay(attempts)


def body_for(delivery: WebhookDelivery) -> str:
    return json.dumps({"id": delivery.id, "type": delivery.event_type,
                       "created_at": delivery.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "data": delivery.payload}, separators=(",", ":"), sort_keys=True)


def _send(url: str, secret: str, delivery: WebhookDelivery, settings: Settings) -> SendResult:
    timeout = settings.webhook_timeout_seconds
    body = body_for(delivery)
    now = dt.datetime.now(dt.UTC)
    headers = {
        "content-type": "application/json",
        "user-agent": "finetuner-webhooks/1",
        "webhook-id": delivery.id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Signer(secret).sign(delivery.id, now, body),
    }
    started = time.perf_counter()
    try:
        response = post_checked(url, content=body.encode(), headers=headers, timeout=timeout, settings=settings)
        return SendResult(response.status_code, (time.perf_counter() - started) * 1000, None)
    except Unprocessable as exc:
        return SendResult(None, (time.perf_counter() - started) * 1000, f"refused target: {exc.message}")
    except httpx.TimeoutException:
        return SendResult(None, (time.perf_counter() - started) * 1000, f"timed out after {timeout:g}s")
    except httpx.HTTPError as exc:
        return SendResult(None, (time.perf_counter() - started) * 1000, f"{type(exc).__name__}: {exc}")


def claim(session: Session, delivery_id: str, *, lease_seconds: float, settings: Settings | None = None
          ) -> tuple[WebhookDelivery, str, str] | None:
    """Lease a due delivery (pushing its next attempt past the lease) so no one else sends it meanwhile."""
    delivery = session.scalars(skip_locked(session, select(WebhookDelivery).where(WebhookDelivery.id == delivery_id))
                               ).first()
    now = utcnow()
    if delivery is None or delivery.status != DeliveryStatus.PENDING or delivery.next_attempt_at > now:
        return None
    webhook = session.get(Webhook, delivery.webhook_id)
    if webhook is None or webhook.deleted_at is not None:
        delivery.status = DeliveryStatus.FAILED
        return None
    delivery.next_attempt_at = now + dt.timedelta(seconds=lease_seconds)
    return delivery, webhook.url, crypto.decrypt(webhook.secret_encrypted, settings)


def deliver(delivery_id: str, *, session_factory: Any, settings: Settings | None = None) -> SendResult | None:
    """One attempt for one delivery; records it and schedules the next. No lock is held while sending."""
    settings = settings or get_settings()
    timeout = settings.webhook_timeout_seconds
    with session_factory() as session, session.begin():
        claimed = claim(session, delivery_id, lease_seconds=timeout + 30, settings=settings)
        if claimed is None:
            return None
        delivery, url, secret = claimed
        session.expunge(delivery)
    result = _send(url, secret, delivery, settings)
    with session_factory() as session, session.begin():
        row = session.get(WebhookDelivery, delivery_id)
        assert row is not None
        row.attempts += 1
        session.add(WebhookAttempt(delivery_id=delivery_id, tenant_id=row.tenant_id, status_code=result.status_code,
                                   latency_ms=round(result.latency_ms, 2), error=result.error))
        now = utcnow()
        if result.ok:
            row.status, row.delivered_at = DeliveryStatus.DELIVERED, now
        elif now - row.created_at > dt.timedelta(hours=settings.webhook_max_age_hours):
            row.status = DeliveryStatus.FAILED
        else:
            row.next_attempt_at = now + dt.timedelta(seconds=retry_delay_seconds(row.attempts, settings))
        outcome = "delivered" if result.ok else "gave_up" if row.status == DeliveryStatus.FAILED else "will_retry"
    telemetry.WEBHOOK_DELIVERIES.labels(outcome).inc()
    log.info("webhook delivery %s attempt: status=%s error=%s", delivery_id, result.status_code, result.error)
    return result


def due_delivery_ids(session: Session, *, limit: int = 100) -> list[str]:
    """Deliveries whose next attempt is due: the beat re-enqueues them (the queue is only a nudge)."""
    query = (select(WebhookDelivery.id).where(WebhookDelivery.status == DeliveryStatus.PENDING,
                                              WebhookDelivery.next_attempt_at <= utcnow())
             .order_by(WebhookDelivery.next_attempt_at).limit(limit))
    return list(session.scalars(query))
