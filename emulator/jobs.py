"""One simulated fine-tuning job, advanced lazily to "now".

A job is a fixed plan (steps, durations, an optional failure) plus a cursor into it. ``advance``
replays everything the plan says happened up to a given instant — phase changes, one metrics event
per step, a checkpoint per epoch, the result file — stamping each event with the instant it
happened, not the instant somebody looked. So reads from any thread at any pace see the same
history, an event keeps its id once created, and time spent paused is simply never replayed.
The caller (``EmulatorState``) holds the lock.
"""

from __future__ import annotations

import base64
import csv
import io
import math
from dataclasses import dataclass, field
from typing import Any, Protocol

from emulator import ids
from emulator.formulas import LossCurve, StepMetrics

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
ACTIVE = frozenset({"validating_files", "queued", "running"})
RESULT_COLUMNS = ("step", "train_loss", "train_accuracy", "valid_loss", "valid_mean_token_accuracy")


@dataclass(frozen=True)
class JobError:
    code: str
    message: str
    param: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "param": self.param}


@dataclass(frozen=True)
class Plan:
    """What the job will do once validated; durations are wall seconds (already time-scaled)."""

    n_examples: int
    n_epochs: int
    batch_size: int
    learning_rate_multiplier: float
    beta: float | None
    steps_per_epoch: int
    trained_tokens: int
    with_validation: bool
    validating_wall: float
    queued_wall: float
    step_wall: float
    finalizing_wall: float
    validation_error: JobError | None = None
    failure_step: int | None = None
    failure: JobError | None = None
    warnings: tuple[str, ...] = ()

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.n_epochs


@dataclass
class Event:
    id: str
    created_at: int
    level: str
    message: str
    type: str
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"object": "fine_tuning.job.event", "id": self.id, "created_at": self.created_at,
                "level": self.level, "message": self.message, "type": self.type, "data": self.data}


@dataclass
class Checkpoint:
    id: str
    created_at: int
    step: int
    model: str
    job_id: str
    metrics: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"object": "fine_tuning.job.checkpoint", "id": self.id, "created_at": self.created_at,
                "fine_tuned_model_checkpoint": self.model, "fine_tuning_job_id": self.job_id,
                "step_number": self.step, "metrics": self.metrics}


class JobHost(Protocol):
    """What a job needs from the state that owns it when it finishes."""

    def store_result_file(self, job: Job, content: bytes, created_at: float) -> str: ...

    def job_finished(self, job: Job) -> None: ...


@dataclass
class Job:
    id: str
    created_at: float
    model: str  # as the job shows it (a snapshot name, or the ft: model being continued)
    base_model: str  # the snapshot underneath, used in ft: names
    training_file: str
    validation_file: str | None
    method_type: str
    requested: dict[str, Any]  # hyperparameters as asked ("auto" allowed)
    seed: int
    suffix: str | None
    metadata: dict[str, str] | None
    integrations: list[dict[str, Any]] | None
    organization: str
    organization_id: str
    plan: Plan
    status: str = "validating_files"
    phase_started: float = 0.0
    steps_done: int = 0
    run_base: int = 0  # steps already done when the current running segment began
    validated: bool = False  # hyperparameters are resolved once the files have passed validation
    model_announced: bool = False
    held: bool = False
    finished_at: float | None = None
    fine_tuned_model: str | None = None
    result_files: list[str] = field(default_factory=list)
    error: JobError | None = None
    events: list[Event] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    metrics: list[StepMetrics] = field(default_factory=list)
    model_tag: str = field(default_factory=ids.model_tag)
    overfit_after: float | None = None  # EmulatorSettings.overfit_after when the job was created
    output_name: str | None = None  # a dialect's own name for the result (Together: account/base:suffix:job)

    def __post_init__(self) -> None:
        self.phase_started = self.phase_started or self.created_at
        self._curve = LossCurve(self.seed, self.plan.total_steps, self.plan.learning_rate_multiplier,
                                self.overfit_after)

    # ----------------------------------------------------------------- names and views
    @property
    def model_name(self) -> str:
        if self.output_name is not None:
            return self.output_name
        return f"ft:{self.base_model}:{self.organization}:{self.suffix or ''}:{self.model_tag}"

    def hyperparameters(self) -> dict[str, Any]:
        if not self.validated:
            return dict(self.requested)
        values: dict[str, Any] = {"batch_size": self.plan.batch_size,
                                  "learning_rate_multiplier": self.plan.learning_rate_multiplier,
                                  "n_epochs": self.plan.n_epochs}
        if self.method_type == "dpo":
            values["beta"] = self.plan.beta
        return values

    def estimated_finish(self) -> int | None:
        plan = self.plan
        remaining = (plan.total_steps - self.steps_done) * plan.step_wall + plan.finalizing_wall
        if self.status == "queued":
            return int(self.phase_started + plan.queued_wall + remaining)
        if self.status == "running":
            done_in_segment = self.steps_done - self.run_base
            return int(self.phase_started + done_in_segment * plan.step_wall + remaining)
        return None

    def to_dict(self) -> dict[str, Any]:
        hyper = self.hyperparameters()
        method_hyper = {k: v for k, v in hyper.items() if k != "beta" or self.method_type == "dpo"}
        top_hyper = {k: v for k, v in hyper.items() if k != "beta"}
        return {
            "object": "fine_tuning.job",
            "id": self.id,
            "model": self.model,
            "created_at": int(self.created_at),
            "finished_at": int(self.finished_at) if self.finished_at is not None else None,
            "fine_tuned_model": self.fine_tuned_model,
            "organization_id": self.organization_id,
            "result_files": list(self.result_files),
            "status": self.status,
            "validation_file": self.validation_file,
            "training_file": self.training_file,
            "hyperparameters": top_hyper,
            "trained_tokens": self.plan.trained_tokens if self.status == "succeeded" else None,
            "error": self.error.to_dict() if self.error else None,
            "user_provided_suffix": self.suffix,
            "seed": self.seed,
            "estimated_finish": self.estimated_finish(),
            "integrations": self.integrations,
            "metadata": self.metadata,
            "method": {"type": self.method_type, self.method_type: {"hyperparameters": method_hyper}},
        }

    # ----------------------------------------------------------------- history
    def emit(self, at: float, message: str, *, level: str = "info", type_: str = "message",
             data: dict[str, Any] | None = None) -> Event:
        event = Event(ids.event_id(), int(at), level, message, type_, data or {})
        self.events.append(event)
        return event

    def start(self) -> None:
        """Record the creation events; called once, right after construction."""
        self.emit(self.created_at, f"Created fine-tuning job: {self.id}")
        files = f"Validating training file: {self.training_file}"
        if self.validation_file:
            files += f" and validation file: {self.validation_file}"
        self.emit(self.created_at, files)

    def _finish(self, at: float, status: str, host: JobHost) -> None:
        self.status = status
        self.finished_at = at
        host.job_finished(self)

    def fail(self, at: float, error: JobError, host: JobHost) -> None:
        self.error = error
        self.emit(at, error.message, level="error")
        self._finish(at, "failed", host)

    # ----------------------------------------------------------------- the simulation
    def advance(self, now: float, host: JobHost) -> None:
        """Replay the plan up to ``now``; a no-op for held, paused and finished jobs."""
        while not self.held and self.status in ACTIVE:
            if self.status == "validating_files" and not self._advance_validation(now, host):
                return
            if self.status == "queued" and not self._advance_queue(now):
                return
            if self.status == "running":
                self._advance_running(now, host)
                return

    def _advance_validation(self, now: float, host: JobHost) -> bool:
        end = self.phase_started + self.plan.validating_wall
        if now < end:
            return False
        if self.plan.validation_error is not None:
            self.fail(end, self.plan.validation_error, host)
            return False
        for warning in self.plan.warnings:
            self.emit(end, warning, level="warn")
        self.emit(end, "Files validated, moving job to queued state")
        self.status, self.phase_started, self.validated = "queued", end, True
        return True

    def _advance_queue(self, now: float) -> bool:
        end = self.phase_started + self.plan.queued_wall
        if now < end:
            return False
        self.emit(end, "Fine-tuning job started")
        self.status, self.phase_started, self.run_base = "running", end, self.steps_done
        return True

    def _advance_running(self, now: float, host: JobHost) -> None:
        plan = self.plan
        total = plan.total_steps
        reachable = self.run_base + math.floor((now - self.phase_started) / plan.step_wall + 1e-9)
        for step in range(self.steps_done + 1, min(total, reachable) + 1):
            at = self.phase_started + (step - self.run_base) * plan.step_wall
            if plan.failure_step == step and plan.failure is not None:
                self.fail(at, plan.failure, host)
                return
            self._record_step(step, at)
        if self.steps_done < total:
            return
        trained_at = self.phase_started + (total - self.run_base) * plan.step_wall
        if not self.model_announced and now >= trained_at + plan.finalizing_wall / 2:
            self.emit(trained_at + plan.finalizing_wall / 2, f"New fine-tuned model created: {self.model_name}")
            self.model_announced = True
        end = trained_at + plan.finalizing_wall
        if now >= end:
            self._succeed(end, host)

    def _record_step(self, step: int, at: float) -> None:
        plan = self.plan
        epoch_end = step % plan.steps_per_epoch == 0
        point = self._curve.metrics(step, with_validation=plan.with_validation, epoch_end=epoch_end)
        self.metrics.append(point)
        self.emit(at, point.message(plan.total_steps), type_="metrics", data=point.as_event_data(plan.total_steps))
        self.steps_done = step
        if epoch_end:
            self.checkpoints.append(Checkpoint(ids.checkpoint_id(), int(at), step,
                                               f"{self.model_name}:ckpt-step-{step}", self.id,
                                               point.as_checkpoint_metrics()))
            del self.checkpoints[:-3]  # OpenAI keeps the last three epochs' checkpoints
            self.emit(at, f"Checkpoint created at step {step}")

    def _succeed(self, at: float, host: JobHost) -> None:
        self.fine_tuned_model = self.model_name
        self.result_files = [host.store_result_file(self, self.result_csv_base64(), at)]
        self.emit(at, "Evaluating model against our usage policies")
        self.emit(at, "Usage policy evaluations completed, model is now enabled for sampling")
        self.emit(at, "The job has successfully completed")
        self._finish(at, "succeeded", host)

    def result_csv_base64(self) -> bytes:
        """The results file as OpenAI serves it: a CSV, base64-encoded."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(RESULT_COLUMNS)
        for m in self.metrics:
            writer.writerow([m.step, m.train_loss, m.train_accuracy,
                             "" if m.valid_loss is None else m.valid_loss,
                             "" if m.valid_accuracy is None else m.valid_accuracy])
        return base64.b64encode(out.getvalue().encode("utf-8"))

    # ----------------------------------------------------------------- user actions
    def cancel(self, now: float, host: JobHost) -> None:
        self.emit(now, "Fine-tuning job cancelled")
        self._finish(now, "cancelled", host)

    def pause(self, now: float) -> None:
        self.emit(now, "Fine-tuning job paused")
        self.status = "paused"

    def resume(self, now: float) -> None:
        self.emit(now, "Fine-tuning job resumed")
        self.status, self.phase_started = "queued", now
