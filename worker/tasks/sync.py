"""Periodic and on-demand syncing: the poll, one job's sync, and the reconciler.

The periodic ones are "check for work" tasks sent by beat with ``expires``; each also holds a
named lock while it runs, so a slow run never overlaps the next one, whichever beat sent it.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from core import telemetry
from core.ceiling import enforce_ceiling
from core.config import get_settings
from core.db import session_scope
from core.models import utcnow
from core.pipeline import reconcile
from core.tasknames import TaskName
from worker import runtime
from worker.celery_app import task
from worker.locks import named_lock, periodic_lock_ttl

log = logging.getLogger(__name__)
OVERDUE_POLLS = 6  # a job unsynced for this many poll periods was missed: sync it on its own


@task(TaskName.POLL)
def poll() -> dict[str, Any]:
    settings = get_settings()
    lock = named_lock(settings, "poll", ttl=periodic_lock_ttl(settings.poll_interval_seconds), renew=True)
    if not lock.acquire():
        return {"skipped": "another poll is running"}
    try:
        with telemetry.POLL_SECONDS.time():
            reports = runtime.syncer().poll()
    finally:
        lock.release()
    summary = {r.provider: {"active": r.active, "list_calls": r.list_calls, "get_calls": r.get_calls,
                            "event_calls": r.event_calls, "status_changes": r.status_changes,
                            "events_stored": r.events_stored, "final_syncs": r.settled, "errors": len(r.errors)}
               for r in reports}
    busy = any(r.status_changes or r.events_stored or r.settled or r.errors for r in reports)
    log.log(logging.INFO if busy else logging.DEBUG, "poll: %s", summary)
    return summary


@task(TaskName.SYNC_JOB)
def sync_job(job_id: str) -> bool:
    return runtime.syncer().sync_job(job_id)


@task(TaskName.RECONCILE)
def reconcile_jobs() -> dict[str, int]:
    settings = get_settings()
    lock = named_lock(settings, "reconcile", ttl=periodic_lock_ttl(settings.reconcile_interval_seconds),
                      renew=True)
    if not lock.acquire():
        return {"skipped": 1}
    try:
        now = utcnow()
        overdue = max(settings.stuck_after_seconds, OVERDUE_POLLS * settings.poll_interval_seconds)
        with session_scope(settings.database_url) as session:
            stuck, unsynced = reconcile(session, stuck_before=now - dt.timedelta(seconds=settings.stuck_after_seconds),
                                        unsynced_before=now - dt.timedelta(seconds=overdue))
        with session_scope(settings.database_url) as session:
            ended = enforce_ceiling(session, now=now, ceiling=dt.timedelta(hours=settings.job_ceiling_hours))
    finally:
        lock.release()
    return {"advanced": len(stuck), "synced": len(unsynced), "ended_at_ceiling": len(ended)}
