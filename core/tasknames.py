"""Every Celery task name, once (onyx's ``OnyxCeleryTask``): producers, beat and the worker import them.

Messages name tasks, so a name is part of the wire format: renaming a member here renames it
everywhere at once, and ``tests/unit/worker/test_task_names.py`` checks that every name scheduled
or dispatched resolves to a task the worker registers. ``core`` defers tasks by name (through
``core.dispatch``), so the names live here rather than in ``worker/``, which ``core`` never imports.
"""

from __future__ import annotations

from enum import StrEnum


class TaskName(StrEnum):
    ADVANCE_JOB = "finetuner.advance_job"
    SYNC_JOB = "finetuner.sync_job"
    POLL = "finetuner.poll"  # the periodic batched provider poll (once "finetuner.sweep"; "sweep" is the user's)
    RECONCILE = "finetuner.reconcile"
    DELIVER_WEBHOOK = "finetuner.deliver_webhook"
    DELIVER_DUE_WEBHOOKS = "finetuner.deliver_due_webhooks"
    SYNC_WANDB = "finetuner.sync_wandb"
    RUN_EVALUATION = "finetuner.run_evaluation"
    RECONCILE_EVALUATIONS = "finetuner.reconcile_evaluations"
    ADVANCE_SWEEP = "finetuner.advance_sweep"  # a hyperparameter sweep's run ended: it may start the next one
    RECONCILE_SWEEPS = "finetuner.reconcile_sweeps"


# The worker modules that register the tasks above; ``worker.celery_app`` includes exactly these.
TASK_MODULES: tuple[str, ...] = ("worker.tasks.pipeline", "worker.tasks.sync", "worker.tasks.webhooks",
                                  "worker.tasks.wandb_sync", "worker.tasks.evaluation", "worker.tasks.sweeps")
