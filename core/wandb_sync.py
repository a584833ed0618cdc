"""Our stored history of a job, logged to a Weights & Biases run with the ``wandb`` package.

OpenAI logs to W&B itself when the job carries the native ``integrations`` entry; this is for the
other cases — a provider without that integration, or a job that asks ``wandb.sync: true`` (to get
our own record: every metrics point, the config, the final results). It runs after the job has
ended, as a task deferred by the job service, and it may run twice: the W&B run id is the job id.
W&B failing (no key, no network, the package missing) is logged and never touches the job.
``WANDB_MODE=offline`` writes the run under ``WANDB_DIR`` (default ``<var>/wandb``) for a later
``wandb sync``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import dispatch
from core.config import Settings
from core.models import Job, JobMetric
from core.states import TERMINAL, JobStatus
from core.tasknames import TaskName

log = logging.getLogger(__name__)


SERIES = ("train_loss", "train_mean_token_accuracy", "valid_loss", "valid_mean_token_accuracy", "full_valid_loss",
          "full_valid_mean_token_accuracy")


def wants_sync(job: Job) -> bool:
    return bool(job.wandb and job.wandb.get("sync"))


def defer_if_wanted(session: Session, job: Job) -> None:
    """Called by the job service when a job ends: nudge the W&B task after the commit."""
    if wants_sync(job):
        dispatch.defer(session, TaskName.SYNC_WANDB, job_id=job.id)


def provider_entry(wandb: dict[str, Any]) -> dict[str, Any]:
    """The ``integrations`` entry's ``wandb`` object: our own ``sync`` flag is not the provider's business."""
    return {k: v for k, v in wandb.items() if v is not None and k != "sync"}


def _config(job: Job) -> dict[str, Any]:
    return {"finetuner_job_id": job.id, "model": job.model, "provider": job.provider,
            "provider_job_id": job.provider_job_id, "method": (job.method or {}).get("type", "supervised"),
            "hyperparameters": job.hyperparameters, "resolved_hyperparameters": job.resolved_hyperparameters,
            "suffix": job.suffix, "seed": job.seed, "training_dataset_id": job.training_dataset_id,
            "validation_dataset_id": job.validation_dataset_id}


def log_job(session: Session, job_id: str, settings: Settings) -> Path | None:
    """Log the finished job to W&B; returns the run's local directory, or None when nothing was logged."""
    job = session.get(Job, job_id)
    if job is None or not wants_sync(job) or JobStatus(job.status) not in TERMINAL:
        return None
    assert job.wandb is not None
    try:
        import wandb
    except ImportError:
        log.warning("job %s asks for W&B sync but the wandb package is not installed (pip install "
                    "'finetuner[wandb]')", job.id, extra={"job_id": job.id, "tenant_id": job.tenant_id})
        return None
    columns = [getattr(JobMetric, name) for name in SERIES]
    rows = session.execute(select(JobMetric.step, *columns).where(JobMetric.job_id == job.id)
                           .order_by(JobMetric.step)).all()
    directory = Path(os.environ.get("WANDB_DIR") or settings.var_dir / "wandb")
    directory.mkdir(parents=True, exist_ok=True)
    try:
        run = wandb.init(project=job.wandb["project"], entity=job.wandb.get("entity"),
                         name=job.wandb.get("name") or job.suffix or job.id, tags=job.wandb.get("tags"),
                         id=job.id, resume="allow", config=_config(job), dir=str(directory),
                         settings=wandb.Settings(silent=True, console="off"))
        for row in rows:
            values = {name: value for name, value in zip(SERIES, row[1:], strict=True) if value is not None}
            if values:
                run.log(values, step=int(row[0]))
        run.summary.update({"status": job.status.value, "fine_tuned_model": job.fine_tuned_model,
                            "trained_tokens": job.trained_tokens, "estimated_cost_usd": job.estimated_cost_usd,
                            "metrics_points": len(rows), "error": job.error["message"] if job.error else None})
        run_dir = Path(run.dir).parent
        run.finish()
    except Exception as exc:  # W&B's trouble never becomes the job's
        log.warning("job %s: W&B sync failed: %s: %s", job.id, type(exc).__name__, exc,
                    extra={"job_id": job.id, "tenant_id": job.tenant_id})
        return None
    log.info("job %s: logged %d metrics points to W&B run %s", job.id, len(rows), run_dir,
             extra={"job_id": job.id, "tenant_id": job.tenant_id})
    return run_dir
