"""Inbound provider webhooks: a verified notice makes us sync that job now.

The notice is only a trigger: the sync reads the job from the provider and moves state through
the job service, which only ever moves forward. So duplicates and out-of-order deliveries are
harmless, and a forged or stale notice is refused before it can cause anything.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import dispatch
from core.config import Settings
from core.errors import BadRequest
from core.models import Job
from core.providers.webhooks import ProviderWebhookEvent, WebhookRejected, unwrap_openai_webhook
from core.tasknames import TaskName

log = logging.getLogger(__name__)

FINE_TUNING_PREFIX = "fine_tuning.job."


def receive_openai_webhook(session: Session, body: bytes, headers: Mapping[str, str], settings: Settings
                           ) -> tuple[ProviderWebhookEvent, Job | None]:
    secret = settings.openai_webhook_secret.get_secret_value() if settings.openai_webhook_secret else None
    try:
        event = unwrap_openai_webhook(body, headers, secret)
    except WebhookRejected as exc:
        raise BadRequest(f"webhook refused: {exc}") from exc
    if not event.type.startswith(FINE_TUNING_PREFIX) or not event.provider_job_id:
        log.info("provider webhook %s of type %s ignored", event.id, event.type)
        return event, None
    job = session.scalars(select(Job).where(Job.provider_job_id == event.provider_job_id)).first()
    if job is None:
        log.info("provider webhook %s names unknown provider job %s", event.id, event.provider_job_id)
        return event, None
    dispatch.defer(session, TaskName.SYNC_JOB, job_id=job.id)
    return event, job
