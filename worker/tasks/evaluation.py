"""Evaluation tasks: run (a slice of) one evaluation, and the reconciler's backstop for lost ones.

The run task is deferred by the API after the evaluation is committed; it can arrive twice (the
lease sends the second away) or never (the reconciler finds the evaluation queued too long, or
running with a lapsed lease, and sends it again). A run that stops before its items are done (its
time slice is up) sends itself again at once: items already answered are never asked twice.
"""

from __future__ import annotations

import datetime as dt
import logging

from core import dispatch
from core.config import get_settings
from core.db import session_scope
from core.evaluation.runner import stale_evaluations
from core.models import utcnow
from core.tasknames import TaskName
from worker import runtime
from worker.celery_app import QUEUE, celery_app, task
from worker.locks import named_lock, periodic_lock_ttl

log = logging.getLogger(__name__)


@task(TaskName.RUN_EVALUATION)
def run_evaluation(evaluation_id: str) -> str:
    outcome = runtime.evaluations().run(evaluation_id)
    if outcome.kind == "continue":
        celery_app.send_task(TaskName.RUN_EVALUATION, kwargs={"evaluation_id": evaluation_id}, queue=QUEUE)
    elif outcome.kind == "missing":
        log.warning("run_evaluation: no evaluation %s", evaluation_id)
    return f"{outcome.kind}: {outcome.detail}" if outcome.detail else outcome.kind


@task(TaskName.RECONCILE_EVALUATIONS)
def reconcile_evaluations() -> int:
    settings = get_settings()
    lock = named_lock(settings, "reconcile-evaluations", ttl=periodic_lock_ttl(settings.reconcile_interval_seconds),
                      renew=True)
    if not lock.acquire():
        return 0
    try:
        now = utcnow()
        with session_scope(settings.database_url) as session:
            stale = stale_evaluations(session, now=now,
                                      queued_before=now - dt.timedelta(seconds=settings.stuck_after_seconds))
            for evaluation_id in stale:
                dispatch.defer(session, TaskName.RUN_EVALUATION, evaluation_id=evaluation_id)
    finally:
        lock.release()
    if stale:
        log.info("reconciler: re-sent %d evaluation(s)", len(stale))
    return len(stale)
