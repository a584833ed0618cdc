"""Sweep tasks: advance one sweep (start runs up to ``max_parallel``, evaluate finished ones, end
it), and the periodic backstop that advances every running sweep, since a nudge may be lost."""

from __future__ import annotations

from core import dispatch, sweeps
from core.catalog import ModelCatalog
from core.config import get_settings
from core.db import session_scope
from core.storage import BlobStore
from core.tasknames import TaskName
from worker.celery_app import task
from worker.locks import named_lock, periodic_lock_ttl


@task(TaskName.ADVANCE_SWEEP)
def advance_sweep(sweep_id: str) -> str:
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        return sweeps.advance(session, sweep_id, catalog=ModelCatalog.load(settings.model_catalog_path),
                              store=BlobStore(settings.storage_path))


@task(TaskName.RECONCILE_SWEEPS)
def reconcile_sweeps() -> int:
    settings = get_settings()
    lock = named_lock(settings, "reconcile-sweeps", ttl=periodic_lock_ttl(settings.reconcile_interval_seconds),
                      renew=True)
    if not lock.acquire():
        return 0
    try:
        with session_scope(settings.database_url) as session:
            running = sweeps.active_sweep_ids(session)
            for sweep_id in running:
                dispatch.defer(session, TaskName.ADVANCE_SWEEP, sweep_id=sweep_id)
    finally:
        lock.release()
    return len(running)
