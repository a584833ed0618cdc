"""Everything one emulator instance knows, behind one lock.

Reads and writes come from uvicorn's thread pool (sync endpoints) and from a background ticker
that advances jobs so webhooks fire even when nobody polls. A single re-entrant lock around every
public method keeps that simple and correct; the slow part of job creation (parsing and tokenising
the training file) runs outside it.

Given ``settings.state_file``, every change is also written to a SQLite file (``persistence.py``)
and loaded back at start, so jobs, files, fine-tuned models, checkpoints and events survive a
restart and a job that was running resumes where it stopped. Without it, state lives in memory only.
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
from emulator.persistence import SAVE_INTERVAL, Changes, StateFile
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
    def __init__(self, settings: EmulatorSettings, dialect: str = "openai") -> None:
        self.settings = settings
        self.dialect = dialect  # whose models and names this instance uses ("openai" or "together")
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
        # Write-through persistence: what changed since the last save (ids), and when that was.
        self._store = StateFile(settings.state_file) if settings.state_file is not None else None
        self._dirty_jobs: set[str] = set()
        self._dirty_files: set[str] = set()
        self._deleted_files: set[str] = set()
        self._dirty_models: set[str] = set()
        self._urgent = False
        self._last_save = 0.0
        if self._store is not None:
            self._load()

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
                    expires_after: int | None = None, file_id: str | None = None) -> dict[str, Any]:
        if len(content) > MAX_UPLOAD_BYTES:
            raise bad_request("File is too large: the maximum size is 512 MB.", param="file")
        if purpose == "fine-tune" and not filename.lower().endswith(".jsonl"):
            raise bad_request(f"Invalid file format for Fine-Tuning API. Must be .jsonl (got '{filename}').",
                              param="file")
        with self.lock:
            now = self.clock.now()
            expires_at = int(now) + expires_after if expires_after else None
            record = self.files.add(filename, purpose, content, now, expires_at, file_id)
            self._dirty_files.add(record.id)
            self._save()
            return record.to_dict()

    def retrieve_file(self, file_id: str) -> dict[str, Any]:
        with self.lock:
            return self.files.get(file_id).to_dict()

    def file_content(self, file_id: str) -> bytes:
        with self.lock:
            return self.files.get(file_id).content

    def delete_file(self, file_id: str) -> dict[str, Any]:
        with self.lock:
            record = self.files.delete(file_id)
            self._dirty_files.discard(file_id)
            self._deleted_files.add(file_id)
            self._save()
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
            choice = resolve_model(self.catalog, request.model, fine_tuned, method, self.dialect)
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
            job_id = ids.together_job_id() if self.dialect == "together" else ids.job_id()
            job = Job(
                id=job_id, created_at=self.clock.now(), model=choice.shown, base_model=choice.snapshot,
                training_file=request.training_file, validation_file=request.validation_file,
                method_type=method, requested=request.requested_hyperparameters(), seed=seed,
                suffix=request.suffix, metadata=request.metadata,
                integrations=[i.echo() for i in request.integrations] if request.integrations else None,
                organization=self.settings.organization, organization_id=self.settings.organization_id, plan=plan,
                overfit_after=self.settings.overfit_after,
                output_name=(f"{self.settings.organization}/{choice.snapshot.split('/')[-1]}:{request.suffix or ''}:"
                             f"{job_id}" if self.dialect == "together" else None),
            )
            job.start()
            if train is not None and error is None:
                self._models[job.model_name] = (job.id, TrainedModel.build(job.model_name, choice.entry.encoding,
                                                                           train.examples))
                self._dirty_models.add(job.model_name)
            self._add_job(job)
            self._save()
            return job.to_dict()

    def _add_job(self, job: Job) -> None:
        self._jobs[job.id] = job
        self._order[job.id] = next(self._seq)
        self._dirty_jobs.add(job.id)
        if job.status in ACTIVE:
            self._active.add(job.id)
            self._ensure_ticker()

    def _job(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise not_found(f"Could not find fine-tuning job: {job_id}", param="fine_tuning_job_id",
                            code="fine_tune_not_found")
        self._advance(job, self.clock.now())
        return job

    def _advance(self, job: Job, now: float) -> None:
        before = (job.status, len(job.events))
        job.advance(now, self)
        if (job.status, len(job.events)) != before:
            self._dirty_jobs.add(job.id)

    def retrieve_job(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            body = self._job(job_id).to_dict()
            self._save()
            return body

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
            self._save()
            return {"object": "list", "data": [j.to_dict() for j in page], "has_more": has_more}

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            job = self._job(job_id)
            if job.status in TERMINAL:
                raise bad_request(f"Job {job_id} has already completed (status: {job.status}); it cannot be "
                                  "cancelled.", param="fine_tuning_job_id")
            job.cancel(self.clock.now(), self)
            self._dirty_jobs.add(job.id)
            self._save()
            return job.to_dict()

    def pause_job(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            job = self._job(job_id)
            if job.status not in ("queued", "running"):
                raise bad_request(f"Job {job_id} cannot be paused while {job.status}; only queued or running "
                                  "jobs can.", param="fine_tuning_job_id")
            job.pause(self.clock.now())
            self._active.discard(job.id)
            self._dirty_jobs.add(job.id)
            self._save()
            return job.to_dict()

    def resume_job(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            job = self._job(job_id)
            if job.status != "paused":
                raise bad_request(f"Job {job_id} is not paused (status: {job.status}); only paused jobs can be "
                                  "resumed.", param="fine_tuning_job_id")
            job.resume(self.clock.now())
            self._active.add(job.id)
            self._dirty_jobs.add(job.id)
            self._save()
            self._ensure_ticker()
            return job.to_dict()

    def list_events(self, job_id: str, *, after: str | None, limit: int) -> dict[str, Any]:
        with self.lock:
            events = list(reversed(self._job(job_id).events))
            page, has_more = paginate(events, after, limit, key=lambda e: e.id)
            self._save()
            return {"object": "list", "data": [e.to_dict() for e in page], "has_more": has_more}

    def list_checkpoints(self, job_id: str, *, after: str | None, limit: int) -> dict[str, Any]:
        with self.lock:
            checkpoints = list(reversed(self._job(job_id).checkpoints))
            page, has_more = paginate(checkpoints, after, limit, key=lambda c: c.id)
            data = [c.to_dict() for c in page]
            self._save()
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
            entry = snapshot_entry(self.catalog, model, self.dialect)
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
            self._dirty_models.add(job.model_name)
            self._add_job(job)
            self._save()
            return job.id

    def release_job(self, job_id: str) -> None:
        """Let a job seeded with ``hold=True`` progress from now on."""
        with self.lock:
            job = self._jobs[job_id]
            if job.held:
                job.held = False
                job.phase_started = self.clock.now()
                job.run_base = job.steps_done
                self._dirty_jobs.add(job.id)
                self._save()

    def _seed_training_file(self) -> str:
        if self._seed_file is None or self.files.find(self._seed_file) is None:
            line = b'{"messages": [{"role": "user", "content": "ping"}, {"role": "assistant", "content": "pong"}]}\n'
            self._seed_file = self.files.add("emulator-seeded-training.jsonl", "fine-tune", line * 10,
                                             self.clock.now()).id
            self._dirty_files.add(self._seed_file)
        return self._seed_file

    def advance_clock(self, seconds: float) -> float:
        """Push the emulator's clock forward (wall seconds) and replay what that time brings."""
        with self.lock:
            now = self.clock.advance(seconds)
            self._advance_active()
            self._save()
            return now

    # ------------------------------------------------------------------ chat
    def chat_model(self, name: str) -> tuple[TrainedModel | None, str]:
        """The model a chat request names (None for a base model) and its encoding, or OpenAI's 404."""
        missing = not_found(f"The model `{name}` does not exist or you do not have access to it.",
                            code="model_not_found")
        with self.lock:
            if name.startswith("ft:") or name.partition(":ckpt-step-")[0] in self._models:
                job_model, _, _ = name.partition(":ckpt-step-")
                found = self._models.get(job_model)
                if found is None:
                    raise missing
                job = self._job(found[0])
                ready = (any(c.model == name for c in job.checkpoints) if name != job_model
                         else job.status == "succeeded")
                self._save()
                if not ready:
                    raise missing
                return found[1], found[1].encoding
            entry = snapshot_entry(self.catalog, name, self.dialect)
            if entry is None:
                raise missing
            return None, entry.encoding

    def job_for_model(self, name: str) -> Job | None:
        """The job whose fine-tuned model (or one of its checkpoints) is ``name``."""
        with self.lock:
            found = self._models.get(name.partition(":ckpt-step-")[0])
            return self._jobs.get(found[0]) if found else None

    def job_object(self, job_id: str) -> Job:
        """The job itself, advanced to now (a dialect renders it in its own shape); 404 if unknown."""
        with self.lock:
            job = self._job(job_id)
            self._save()
            return job

    def annotate_job(self, job_id: str, values: dict[str, Any]) -> Job:
        """Record a dialect's own request fields on a job (kept in ``requested``, and persisted)."""
        with self.lock:
            job = self._job(job_id)
            job.requested.update(values)
            self._dirty_jobs.add(job.id)
            self._save()
            return job

    def jobs_newest_first(self) -> list[Job]:
        with self.lock:
            self._advance_active()
            self._save()
            return sorted(self._jobs.values(), key=lambda j: (j.created_at, self._order[j.id]), reverse=True)

    def find_file_record(self, file_id: str) -> Any:
        with self.lock:
            return self.files.find(file_id)

    def all_files(self) -> list[Any]:
        with self.lock:
            page, _ = self.files.page(purpose=None, after=None, limit=1_000_000, order="desc")
            return list(page)

    # ------------------------------------------------------------------ JobHost
    def store_result_file(self, _job: Job, content: bytes, created_at: float) -> str:
        record = self.files.add("step_metrics.csv", "fine-tune-results", content, created_at)
        self._dirty_files.add(record.id)
        return record.id

    def job_finished(self, job: Job) -> None:
        self._active.discard(job.id)
        self._dirty_jobs.add(job.id)
        self._urgent = True  # an end (and its webhook) is saved at once, not at the next interval
        if self.webhooks is not None and not self._seeding and job.finished_at is not None:
            self.webhooks.send(job.id, job.status, job.finished_at)

    # ------------------------------------------------------------------ background
    def _advance_active(self) -> None:
        now = self.clock.now()
        for job_id in list(self._active):
            self._advance(self._jobs[job_id], now)

    def _ensure_ticker(self) -> None:
        if self._ticker is None and not self._stop.is_set():
            self._ticker = threading.Thread(target=self._tick, name="emulator-ticker", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(self.settings.tick_interval):
            try:
                with self.lock:
                    self._advance_active()
                    self._save(periodic=True)
            except Exception:  # a bug must not stop every other job from progressing
                log.exception("emulator ticker: advancing jobs failed")

    def close(self) -> None:
        """Stop the background threads (daemon threads; closing is tidy, not required)."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
        if self.webhooks is not None:
            self.webhooks.close()
        if self._store is not None:
            with self.lock:
                self._save(force=True)
                self._store.close()
                self._store = None

    # ------------------------------------------------------------------ persistence
    def _save(self, *, periodic: bool = False, force: bool = False) -> None:
        """Write what changed (called with the lock held); the ticker's saves are throttled.

        A client's call saves at once, so whatever a client has seen survives a restart; progress
        nobody has seen yet is saved every ``SAVE_INTERVAL`` (and replayed identically if lost).
        """
        store = self._store
        if store is None:
            return
        dirty = bool(self._dirty_jobs or self._dirty_files or self._deleted_files or self._dirty_models)
        now = self.clock.now()
        if periodic and not force and not self._urgent:
            due = now - self._last_save >= SAVE_INTERVAL
            if not (due and (dirty or self._active)):
                return
        elif not (dirty or force):
            return
        changes = Changes(
            files=[f for i in self._dirty_files if (f := self.files.find(i)) is not None],
            deleted_files=sorted(self._deleted_files),
            jobs=[(self._order[i], self._jobs[i]) for i in self._dirty_jobs],
            models=[(name, *self._models[name]) for name in self._dirty_models],
            meta={"saved_at": now, "clock_offset": self.clock.offset, "rng": self._rng.getstate(),
                  "seed_file": self._seed_file},
        )
        store.write(changes)
        self._dirty_jobs.clear()
        self._dirty_files.clear()
        self._deleted_files.clear()
        self._dirty_models.clear()
        self._urgent = False
        self._last_save = now

    def _load(self) -> None:
        """Read the state file back; active jobs resume their simulated time where it stopped."""
        assert self._store is not None
        snap = self._store.load()
        if not snap.meta:
            return
        self.clock.set_offset(float(snap.meta["clock_offset"]))
        self._rng.setstate(snap.meta["rng"])
        self._seed_file = snap.meta.get("seed_file")
        self.files.restore(snap.files)
        downtime = max(0.0, self.clock.now() - float(snap.meta["saved_at"]))
        for seq, job in snap.jobs:
            if job.status in ACTIVE and not job.held:
                job.phase_started += downtime  # the process was down: that time is never replayed
            self._jobs[job.id] = job
            self._order[job.id] = seq
            if job.status in ACTIVE:
                self._active.add(job.id)
        self._seq = itertools.count(max(self._order.values(), default=-1) + 1)
        for name, job_id, model in snap.models:
            self._models[name] = (job_id, model)
        log.info("emulator: loaded %d jobs (%d active), %d files from %s", len(self._jobs), len(self._active),
                 len(snap.files), self._store.path)
        if self._active:
            self._dirty_jobs.update(self._active)  # their shifted clocks are the new truth
            self._save(force=True)
            self._ensure_ticker()
