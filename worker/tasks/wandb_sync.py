"""The W&B task: log a finished job's stored history to a W&B run (``core.wandb_sync`` does the work)."""

from __future__ import annotations

from core.config import get_settings
from core.db import session_scope
from core.tasknames import TaskName
from core.wandb_sync import log_job
from worker.celery_app import task


@task(TaskName.SYNC_WANDB)
def sync_wandb(job_id: str) -> str | None:
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        run_dir = log_job(session, job_id, settings)
    return str(run_dir) if run_dir else None
