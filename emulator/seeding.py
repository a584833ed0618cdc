"""Jobs created directly in a given status, for tests that need many jobs cheaply (e.g. polling).

A seeded job skips upload and parsing: its plan is synthetic (``n_examples`` examples of 50 tokens)
and its history holds only the phase messages a real job of that status would have, no metrics.
"""

from __future__ import annotations

from core.catalog import ModelEntry
from emulator import formulas, ids
from emulator.jobs import Job, JobError, JobHost, Plan
from emulator.settings import EmulatorSettings

SEEDABLE = ("validating_files", "queued", "running", "paused", "succeeded", "failed", "cancelled")
_SEEDED_TOKENS = 50


def _plan(n_examples: int, time_scale: float) -> Plan:
    epochs = formulas.auto_epochs(n_examples)
    batch = formulas.auto_batch_size(n_examples)
    return Plan(
        n_examples=n_examples, n_epochs=epochs, batch_size=batch,
        learning_rate_multiplier=formulas.AUTO_LEARNING_RATE_MULTIPLIER, beta=None,
        steps_per_epoch=formulas.steps_per_epoch(n_examples, batch),
        trained_tokens=n_examples * _SEEDED_TOKENS * epochs, with_validation=False,
        validating_wall=formulas.validating_seconds(n_examples) * time_scale,
        queued_wall=formulas.QUEUED_SECONDS * time_scale,
        step_wall=formulas.step_seconds(_SEEDED_TOKENS, batch) * time_scale,
        finalizing_wall=formulas.FINALIZING_SECONDS * time_scale,
    )


def seeded_job(*, status: str, entry: ModelEntry, training_file: str, created_at: float, now: float,
               metadata: dict[str, str] | None, suffix: str | None, n_examples: int, seed: int,
               settings: EmulatorSettings, host: JobHost) -> Job:
    if status not in SEEDABLE:
        raise ValueError(f"cannot seed a job in status {status!r}; choose one of {SEEDABLE}")
    auto = {"batch_size": "auto", "learning_rate_multiplier": "auto", "n_epochs": "auto"}
    job = Job(id=ids.job_id(), created_at=created_at, model=entry.model, base_model=entry.model,
              training_file=training_file, validation_file=None, method_type="supervised", requested=auto,
              seed=seed, suffix=suffix, metadata=metadata, integrations=None,
              organization=settings.organization, organization_id=settings.organization_id,
              plan=_plan(n_examples, settings.time_scale), phase_started=now)
    job.start()
    if status == "validating_files":
        return job
    at = max(created_at, now) if status in ("queued", "running", "paused") else created_at
    job.emit(at, "Files validated, moving job to queued state")
    job.status, job.phase_started, job.validated = "queued", now, True
    if status == "queued":
        return job
    job.emit(at, "Fine-tuning job started")
    job.status, job.run_base = "running", 0
    if status == "running":
        return job
    if status == "paused":
        job.pause(at)
        return job
    if status == "succeeded":
        job.fine_tuned_model = job.model_name
        job.emit(at, f"New fine-tuned model created: {job.model_name}")
        job.emit(at, "The job has successfully completed")
        job.steps_done = job.plan.total_steps
        job.status, job.finished_at = "succeeded", at
    elif status == "failed":
        job.fail(at, JobError("server_error", "The job failed due to an internal error.", None), host)
    else:
        job.cancel(at, host)
    return job
