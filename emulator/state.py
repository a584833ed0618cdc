"""Everything one emulator instance knows, behind one lock.

Reads and writes come from uvicorn's thread pool (sync endpoints) and from a background ticker
that advances jobs so webhooks fire even when nobody polls. A single re-entrant lock around every
public method keeps that simple and correct; the slow part of job creation (parsing and tokenising
the training file) runs outside it.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
from collections import deque
from typing import Any, NamedTuple

from core.catalog import ModelCatalog
from emulator import ids
from emulator.chat import TrainedModel
from emulator.clock import Clock
from emulator.errors import bad_request, not_found
from emulator.faults import FaultInjector
from emulator.files import MAX_UPLOAD_BYTES, FileStore
from emulator.jobs import ACTIVE, TERMINAL, Job
from emulator.pagination import paginate
from emulator.planning import FailureDraw, build_plan, parse_inputs, resolve_model, snapshot_entry
from emulator.schemas import CreateJobRequest
from emulator.seeding import seeded_job
from emulator.settings import EmulatorSettings, FaultProfile
from emulator.webhooks import WebhookSender

log = logging.getLogger("emulator")

#: The call log keeps this many most recent calls, so a long-running emulator stays small.
CALL_LOG_SIZE = 100_000


class Call(NamedTuple):
    """One request the emulator handled: method, path relative to its root, query parameters."""

    method: str
    path: str
    query: dict[str, str]


class EmulatorState:
    def __init__(self, settings: EmulatorSettings) -> None:
        self.settings = settings
        self.clock = Clock()
        self.lock = threading.RLock()
        self.catalog = ModelCatalog.load()
        self.files = FileStore()
        self.faults = FaultInjector(settings.faults, settings.seed)
        self.webhooks = (WebhookSender(settings.webhook_url, settings.webhook_secret, settings.webhook_retry_delays,
                                       settings.webhook_timeout) if settings.webhook_url else None)
        self._jobs: dict[str, Job] = {}
        self._order: dict[str, int] = {}
        self._seq = itertools.count()
        self._active: set[str] = set()
        self._models: dict[str, tuple[str, TrainedModel]] = {}
        self._rng = random.Random(f"jobs:{settings.seed}")
        self._calls: deque[Call] = deque(maxlen=CALL_LOG_SIZE)
        self._seed_file: str | None = None
        self._seeding = False
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # ------------------------------------------------------------------ call log and faults
    @property
    def calls(self) -> list[Call]:
        with self.lock:
            return list(self._calls)

    def record_call(self, method: str, path: str, query: dict[str, str]) -> None:
        with self.lock:
            self._calls.append(Call(method, path, query))

    def reset_calls(self) -> None:
        with self.lock:
            self._calls.clear()

    def inject(self, path_pattern: str, status: int, count: int = 1, retry_after: float | None = None,
               method: str | None = None, delay: float = 0.0) -> None:
        """Fail the next ``count`` calls matching ``path_pattern`` (a glob) with ``status``."""
        self.faults.inject(path_pattern, status, count, retry_after, method, delay)

    def set_fault_profile(self, profile: FaultProfile) -> None:
        self.faults.set_profile(profile)

    def clear_faults(self) -> None:
        self.faults.clear()

    # ------------------------------------------------------------------ files
    def create_file(self, filename: str, purpose: str, content: bytes,
                    expires_after: int | None = None) -> dict[str, Any]:
        if len(content) > MAX_UPLOAD_BYTES:
            raise bad_request("File is too large: the maximum size is 512 MB.", param="file")
        if purpose == "fine-tune" and not filename.lower().endswith(".jsonl"):
            raise bad_request(f"Invalid file format for Fine-Tuning API. Must be .jsonl (got '{filename}').",
                              param="file")
        with self.lock:
            now = self.clock.now()
            expires_at = int(now) + expires_after if expires_after else None
            return self.files.add(filename, purpose, content, now, expires_at).to_dict()

    def retrieve_file(self, file_id: str) -> dict[str, Any]:
        with self.lock:
            return self.files.get(file_id).to_dict()

    def file_content(self, file_id: str) -> bytes:
        with self.lock:
            return self.files.get(file_id).content

    def delete_file(self, file_id: str) -> dict[str, Any]:
        with self.lock:
            record = self.files.delete(file_id)
            return {"id": record.id, "object": "file", "deleted": True}

    def list_files(self, *, purpose: str | None, after: str | None, limit: int, order: str) -> dict[str, Any]:
        with self.lock:
            page, has_more = self.files.page(purpose=purpose, after=after, limit=limit, order=order)
            data = [f.to_dict() for f in page]
        return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None, "has_more": has_more}

    # ------------------------------------------------------------------ jobs
    def _input_file(self, file_id: str, param: str) -> bytes:
        record = self.files.find(file_id)
        if record is None:
            raise bad_request(f"invalid {param}: {file_id}", param=param)
        if record.purpose != "fine-tune":
            raise bad_request(f"File {file_id} has purpose '{record.purpose}', but fine-tuning needs purpose "
                              "'fine-tune'.", param=param)
        return record.content

    def create_job(self, request: CreateJobRequest) -> dict[str, Any]:
        method = request.method_type()
        if method == "reinforcement":
            raise bad_request("Reinforcement fine-tuning is not available in the emulator.", param="method")
        with self.lock:
            fine_tuned = {name: self._jobs[job_id].base_model for name, (job_id, _) in self._models.items()
                          if self._jobs[job_id].status == "succeeded"}
            choice = resolve_model(self.catalog, request.model, fine_tuned, method)
            training = self._input_file(request.training_file, "training_file")
            validation = (self._input_file(request.validation_file, "validation_file")
                          if request.validation_file else None)
            seed = request.seed if request.seed is not None else self._rng.randrange(2**31)
            failure = FailureDraw(self._rng.random() < self.faults.profile.job_failure_rate, self._rng.random())
        train, valid, error = parse_inputs(training, validation, method=method, entry=choice.entry,
                                           min_examples=self.settings.min_examples)
        profile = self.faults.profile
        plan = build_plan(requested=request.requested_hyperparameters(), method=method, train=train, valid=valid,
                          has_validation_file=validation is not None, error=error, failure=failure,
                          time_scale=self.settings.time_scale, token_limit=choice.entry.token_limit,
                          fault_code=profile.job_failure_code, fault_message=profile.job_failure_message)
        with self.lock:
            job = Job(
                id=ids.job_id(), created_at=self.clock.now(), model=choice.shown, base_model=choice.snapshot,
                training_file=request.training_file, validation_file=request.validation_file,
                method_type=method, requested=request.requested_hyperparameters(), seed=seed,
                suffix=request.suffix, metadata=request.metadata,
                integrations=[i.echo() for i in request.integrations] if request.integrations else None,
                organization=self.settings.organization, organization_id=self.settings.organization_id, plan=plan,
            )
            job.start()
            if train is not None and error is None:
                self._models[job.model_name] = (job.id, TrainedModel.build(job.model_name, choice.entry.encoding,
                                                                           train.examples))
            self._add_job(job)
            return job.to_dict()

    def _add_job(self, job: Job) -> None:
        self._jobs[job.id] = job
        self._order[job.id] = next(self._seq)
        if job.status in ACTIVE:
            self._active.add(job.id)
            self._ensure_ticker()

    def _job(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise not_found(f"Could not find fine-tuning job: {job_id}", param="fine_tuning_job_id",
                            code="fine_tune_not_found")
        job.advance(self.clock.now(), self)
        return job

    def retrieve_job(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            return self._job(job_id).to_dict()

    def list_jobs(self, *, after: str | None, limit: int, metadata: dict[str, str] | None,
                  metadata_null: bool = False) -> dict[str, Any]:
        with self.lock:
            self._advance_active()
            jobs = sorted(self._jobs.values(), key=lambda j: (j.created_at, self._order[j.id]), reverse=True)
            if metadata_null:
                jobs = [j for j in jobs if not j.metadata]
            elif metadata:
                jobs = [j for j in jobs if j.metadata and all(j.metadata.get(k) == v for k, v in metadata.items())]
            page, has_more = paginate(jobs, after, limit, key=lambda j: j.id)
            return {"object": "list", "data": [j.to_dict() for j in page], "has_more": has_more}

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            job = self._job(job_id)
            if job.status in TERMINAL:
                raise bad_request(f"Job {job_id} has already completed (status: {job.status}); it cannot be "
                                  "cancelled.", param="fine_tuning_job_id")
            job.cancel(self.clock.now(), self)
            return job.to_dict()

    def pause_job(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            job = self._job(job_id)
            if job.status not in ("queued", "running"):
                raise bad_request(f"Job {job_id} cannot be paused while {job.status}; only queued or running "
                                  "jobs can.", param="fine_tuning_job_id")
            job.pause(self.clock.now())
            self._active.discard(job.id)
            return job.to_dict()

    def resume_job(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            job = self._job(job_id)
            if job.status != "paused":
                raise bad_request(f"Job {job_id} is not paused (status: {job.status}); only paused jobs can be "
                                  "resumed.", param="fine_tuning_job_id")
            job.resume(self.clock.now())
            self._active.add(job.id)
            self._ensure_ticker()
            return job.to_dict()

    def list_events(self, job_id: str, *, after: str | None, limit: int) -> dict[str, Any]:
        with self.lock:
            events = list(reversed(self._job(job_id).events))
            page, has_more = paginate(events, after, limit, key=lambda e: e.id)
            return {"object": "list", "data": [e.to_dict() for e in page], "has_more": has_more}

    def list_checkpoints(self, job_id: str, *, after: str | None, limit: int) -> dict[str, Any]:
        with self.lock:
            checkpoints = list(reversed(self._job(job_id).checkpoints))
            page, has_more = paginate(checkpoints, after, limit, key=lambda c: c.id)
            data = [c.to_dict() for c in page]
            return {"object": "list", "data": data, "has_more": has_more,
                    "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}

    # ------------------------------------------------------------------ test hooks
    def seed_job(self, *, model: str = "gpt-4o-mini-2024-07-18", status: str = "succeeded",
                 created_at: float | None = None, metadata: dict[str, str] | None = None,
                 suffix: str | None = None, hold: bool = False, n_examples: int = 20) -> str:
        """Create a job directly in ``status`` (no upload, no parsing); returns its id.

        Non-terminal jobs progress normally from the moment they are seeded unless ``hold`` is set,
        in which case they stay in ``status`` until :meth:`release_job`. Seeded terminal jobs send
        no webhook and have no result file.
        """
        with self.lock:
            entry = snapshot_entry(self.catalog, model)
            if entry is None:
                raise ValueError(f"unknown base model {model!r}")
            now = self.clock.now()
            self._seeding = True
            try:
                job = seeded_job(status=status, entry=entry, training_file=self._seed_training_file(),
                                 created_at=now if created_at is None else created_at, now=now, metadata=metadata,
                                 suffix=suffix, n_examples=n_examples, seed=self._rng.randrange(2**31),
                                 settings=self.settings, host=self)
            finally:
                self._seeding = False
            job.held = hold
            self._models[job.model_name] = (job.id, TrainedModel.build(job.model_name, entry.encoding, ()))
            self._add_job(job)
            return job.id

    def release_job(self, job_id: str) -> None:
        """Let a job seeded with ``hold=True`` progress from now on."""
        with self.lock:
            job = self._jobs[job_id]
            if job.held:
                job.held = False
                job.phase_started = self.clock.now()
                job.run_base = job.steps_done

    def _seed_training_file(self) -> str:
        if self._seed_file is None or self.files.find(self._seed_file) is None:
            line = b'{"messages": [{"role": "user", "content": "ping"}, {"role": "assistant", "content": "pong"}]}\n'
            self._seed_file = self.files.add("emulator-seeded-training.jsonl", "fine-tune", line * 10,
                                             self.clock.now()).id
        return self._seed_file

    def advance_clock(self, seconds: float) -> float:
        """Push the emulator's clock forward (wall seconds) and replay what that time brings."""
        with self.lock:
            now = self.clock.advance(seconds)
            self._advance_active()
            return now

    # ------------------------------------------------------------------ chat
    def chat_model(self, name: str) -> tuple[TrainedModel | None, str]:
        """The model a chat request names (None for a base model) and its encoding, or OpenAI's 404."""
        missing = not_found(f"The model `{name}` does not exist or you do not have access to it.",
                            code="model_not_found")
        with self.lock:
            if name.startswith("ft:"):
                job_model, _, _ = name.partition(":ckpt-step-")
                found = self._models.get(job_model)
                if found is None:
                    raise missing
                job = self._job(found[0])
                ready = (any(c.model == name for c in job.checkpoints) if name != job_model
                         else job.status == "succeeded")
                if not ready:
                    raise missing
                return found[1], found[1].encoding
            entry = snapshot_entry(self.catalog, name)
            if entry is None:
                raise missing
            return None, entry.encoding

    # ------------------------------------------------------------------ JobHost
    def store_result_file(self, job: Job, content: bytes, created_at: float) -> str:
        return self.files.add("step_metrics.csv", "fine-tune-results", content, created_at).id

    def job_finished(self, job: Job) -> None:
        self._active.discard(job.id)
        if self.webhooks is not None and not self._seeding and job.finished_at is not None:
            self.webhooks.send(job.id, job.status, job.finished_at)

    # ------------------------------------------------------------------ background
    def _advance_active(self) -> None:
        now = self.clock.now()
        for job_id in list(self._active):
            self._jobs[job_id].advance(now, self)

    def _ensure_ticker(self) -> None:
        if self._ticker is None and not self._stop.is_set():
            self._ticker = threading.Thread(target=self._tick, name="emulator-ticker", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(self.settings.tick_interval):
            try:
                with self.lock:
                    self._advance_active()
            except Exception:  # a bug must not stop every other job from progressing
                log.exception("emulator ticker: advancing jobs failed")

    def close(self) -> None:
        """Stop the background threads (daemon threads; closing is tidy, not required)."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
        if self.webhooks is not None:
            self.webhooks.close()
