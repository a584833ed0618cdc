"""Client webhook delivery: one task per delivery attempt, and a periodic check for due retries.

One task per delivery keeps a slow receiver from holding up anyone else's (each attempt has its
own timeout); the periodic check re-sends what is due, since a queued nudge may be lost.
"""

from __future__ import annotations

from core import webhooks
from core.config import get_settings
from core.db import get_sessionmaker, session_scope
from core.tasknames import TaskName
from worker.celery_app import celery_app, task


@task(TaskName.DELIVER_WEBHOOK)
def deliver_webhook(delivery_id: str) -> str:
    settings = get_settings()
    result = webhooks.deliver(delivery_id, session_factory=get_sessionmaker(settings.database_url),
                              settings=settings)
    if result is None:
        return "not due"
    return "delivered" if result.ok else f"failed: {result.status_code or result.error}"


@task(TaskName.DELIVER_DUE_WEBHOOKS)
def deliver_due_webhooks() -> int:
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        due = webhooks.due_delivery_ids(session, limit=200)
    for delivery_id in due:
        celery_app.send_task(TaskName.DELIVER_WEBHOOK, kwargs={"delivery_id": delivery_id},
                             expires=settings.webhook_timeout_seconds + 60)
    return len(due)
