"""Inbound provider webhooks: a verified notice makes us sync that job now.

The notice is only a trigger: the sync reads the job from the provider and moves state through
the job service, which only ever moves forward. So duplicates and out-of-order deliveries are
harmless, and a forged or stale notice is refused before it can cause anything. A replayed one
(same ``webhook-id``, still inside the signature's tolerance window) is answered but not acted on:
each ``webhook-id`` is recorded once, and records older than twice the window are dropped, since
the signature check refuses those messages anyway.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core import dispatch
from core.config import Settings
from core.errors import BadRequest
from core.models import Job, ProviderWebhookReceipt, utcnow
from core.providers.webhooks import ProviderWebhookEvent, WebhookRejected, unwrap_openai_webhook
from core.tasknames import TaskName

log = logging.getLogger(__name__)

FINE_TUNING_PREFIX = "fine_tuning.job."
TOLERANCE = dt.timedelta(seconds=300)  # the openai SDK's signature tolerance: older timestamps are refused


def first_receipt(session: Session, webhook_id: str) -> bool:
    """Record ``webhook_id``; ``False`` if it was recorded already (a replay). The caller commits."""
    now = utcnow()
    session.execute(delete(ProviderWebhookReceipt).where(ProviderWebhookReceipt.received_at < now - 2 * TOLERANCE))
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(ProviderWebhookReceipt).values(webhook_id=webhook_id, received_at=now).on_conflict_do_nothing(
        index_elements=["webhook_id"]).returning(ProviderWebhookReceipt.webhook_id)
    return bool(session.execute(statement).all())


def receive_openai_webhook(session: Session, body: bytes, headers: Mapping[str, str], settings: Settings
                           ) -> tuple[ProviderWebhookEvent, Job | None]:
    secret = settings.openai_webhook_secret.get_secret_value() if settings.openai_webhook_secret else None
    try:
        event = unwrap_openai_webhook(body, headers, secret)
    except WebhookRejected as exc:
        raise BadRequest(f"webhook refused: {exc}") from exc
    webhook_id = headers.get("webhook-id") or event.id
    if not first_receipt(session, webhook_id[:255]):
        log.info("provider webhook %s is a replay; answered, not acted on", webhook_id)
        return event, None
    if not event.type.startswith(FINE_TUNING_PREFIX) or not event.provider_job_id:
        log.info("provider webhook %s of type %s ignored", event.id, event.type)
        return event, None
    job = session.scalars(select(Job).where(Job.provider_job_id == event.provider_job_id)).first()
    if job is None:
        log.info("provider webhook %s names unknown provider job %s", event.id, event.provider_job_id)
        return event, None
    dispatch.defer(session, TaskName.SYNC_JOB, job_id=job.id)
    return event, job
