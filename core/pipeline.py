"""Advancing one job through our own states until the provider holds it (DESIGN §2, §3).

``pending → uploading → submitting → <the provider's status>``, and ``cancelling →`` a cancel at
the provider (or ``cancelled`` here when the provider never got the job). :meth:`Pipeline.advance`
re-reads the row and does only what its state calls for, so running it twice — a duplicate
message, a reconciler nudge, a retry after a crash — does no harm:

- each step runs under the job's claim (``core.claims``): a job another worker holds is skipped;
- a file is uploaded once per (provider, sha256): our ``provider_files`` table first, then the
  provider's file list by the sha256-carrying name, and only then an upload — whose row is
  committed at once, so a crash after it pays nothing twice;
- a provider job is looked up by our tag in its ``metadata`` before one is created, so a crash
  between "created at the provider" and "committed here" ends in adoption, not a second job.

Provider errors: a final one fails the job with the provider's (already redacted) message; a
retryable one is counted on the row and handed back to the caller to re-schedule, until
``max_advance_attempts`` turns it into a failure with a clear reason.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core import dispatch, wandb_sync
from core.backoff import Backoff
from core.claims import claim_job, still_in, upload_lock
from core.jobs import TAG_KEY, transition
from core.models import Dataset, Job, ProviderFile, job_error
from core.providers.base import JobSpec, Provider, ProviderJob, provider_filename
from core.providers.errors import ProviderConflictError, ProviderError, ProviderFinalError
from core.states import AT_PROVIDER, OURS, TERMINAL, JobStatus
from core.storage import BlobStore
from core.sync import apply_snapshot, overdue_at_provider
from core.tasknames import TaskName

log = logging.getLogger(__name__)

MAX_STEPS = 6  # pending → uploading → submitting → provider, with room for a cancel arriving meanwhile
ProviderFor = Callable[[str], Provider]


class OutcomeKind(StrEnum):
    """What one :meth:`Pipeline.advance` did, in words a task (or a log line) can act on."""

    DONE = "done"  # moved as far as it can go now (or its state asks nothing of the pipeline)
    MOVED = "moved"  # someone else (the API's cancel) moved the row meanwhile; this step's writes dropped
    FAILED = "failed"  # a final provider error, our own refusal, or the attempt ceiling failed the job
    CANCEL_REFUSED = "cancel_refused"  # the provider refused the cancel; the poll keeps following the job
    BUSY = "busy"  # another worker holds the job's claim
    RETRY = "retry"  # a retryable provider error: call again after ``retry_in`` seconds
    MISSING = "missing"  # no such job


@dataclass(frozen=True)
class Outcome:
    """What :meth:`Pipeline.advance` left behind. ``retry`` carries the delay the caller should wait."""

    kind: OutcomeKind
    status: JobStatus | None = None
    retry_in: float | None = None
    detail: str = ""


class _Refused(ProviderFinalError):
    """Something of ours makes the job impossible (its dataset or blob is gone): fail it, do not retry."""


class _Moved(Exception):
    """The row changed under us (the API cancelled it): drop this step's writes and re-read."""


def advance_backoff(max_retry_delay: float) -> Backoff:
    """A job's next advance after a retryable provider failure: from 2 s doubling, equal jitter, at
    least 1 s, and never beyond ``max_retry_delay`` (kept under the broker's visibility timeout)
    even when the provider's ``Retry-After`` asks for longer."""
    return Backoff(initial=2.0, cap=max_retry_delay, jitter=(0.5, 1.0), floor=1.0, limit=max_retry_delay)


class Pipeline:
    def __init__(self, sessions: sessionmaker[Session], *, provider_for: ProviderFor, store: BlobStore,
                 lock_dir: Path, max_attempts: int, max_retry_delay: float) -> None:
        self.sessions = sessions
        self.provider_for = provider_for
        self.store = store
        self.lock_dir = lock_dir
        self.max_attempts = max_attempts
        self.backoff = advance_backoff(max_retry_delay)

    def advance(self, job_id: str) -> Outcome:
        """Move the job as far as it can go now; safe to call any number of times."""
        outcome = Outcome(OutcomeKind.DONE)
        for _ in range(MAX_STEPS):
            outcome, progressed = self._one_step(job_id)
            if not progressed:
                return outcome
        return outcome

    def _one_step(self, job_id: str) -> tuple[Outcome, bool]:
        with self.sessions() as session, claim_job(session, job_id, lock_dir=self.lock_dir) as job:
            if job is None:
                exists = session.scalar(select(Job.id).where(Job.id == job_id)) is not None
                return Outcome(OutcomeKind.BUSY if exists else OutcomeKind.MISSING), False
            status = job.status
            try:
                progressed = self._step(session, job, status)
            except _Moved:
                session.rollback()
                return Outcome(OutcomeKind.MOVED, detail="moved meanwhile"), True
            except ProviderError as exc:
                session.rollback()
                return self._after_provider_error(session, job_id, status, exc), False
            session.commit()
            return Outcome(OutcomeKind.DONE, job.status), progressed

    def _step(self, session: Session, job: Job, status: JobStatus) -> bool:
        if status == JobStatus.PENDING:
            transition(session, job, JobStatus.UPLOADING, reason="uploading the datasets", actor="worker")
            return True
        if status == JobStatus.UPLOADING:
            self._upload(session, job)
            return True
        if status == JobStatus.SUBMITTING:
            self._submit(session, job)
            return False
        if status == JobStatus.CANCELLING:
            self._cancel(session, job)
            return False
        if status in AT_PROVIDER or status in TERMINAL:
            return False  # the poll follows jobs the provider holds
        raise AssertionError(f"unhandled status {status}")

    # ---------------------------------------------------------------- uploading

    def _upload(self, session: Session, job: Job) -> None:
        provider = self.provider_for(job.provider)
        training = self._dataset(session, job.training_dataset_id)
        training_file = job.training_file_id or self.ensure_uploaded(provider, training)
        validation_file = job.validation_file_id
        if job.validation_dataset_id is not None and validation_file is None:
            validation_file = self.ensure_uploaded(provider, self._dataset(session, job.validation_dataset_id))
        if not still_in(session, job, JobStatus.UPLOADING.value):
            raise _Moved
        job.training_file_id = training_file
        job.validation_file_id = validation_file
        transition(session, job, JobStatus.SUBMITTING, reason="datasets at the provider", actor="worker")

    @staticmethod
    def _dataset(session: Session, dataset_id: str) -> Dataset:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None:
            raise _Refused(f"dataset {dataset_id} no longer exists", code="dataset_missing")
        return dataset

    def ensure_uploaded(self, provider: Provider, dataset: Dataset) -> str:
        """The provider's file id for this dataset's canonical JSONL, uploading it only if nobody has."""
        sha256 = dataset.canonical_sha256 or dataset.sha256
        with self.sessions() as session, upload_lock(session, provider.name, sha256, lock_dir=self.lock_dir):
            known = session.scalars(select(ProviderFile).where(
                ProviderFile.provider == provider.name, ProviderFile.sha256 == sha256)).first()
            if known is not None:
                return known.provider_file_id
            filename = provider_filename(sha256, dataset.name)
            remote = provider.find_file(filename)
            if remote is None:
                path = self.store.path_for(sha256)
                if not path.is_file():
                    raise _Refused(f"the content of dataset {dataset.id} is missing from storage",
                                   code="dataset_content_missing")
                log.info("uploading %s (%s bytes) to %s as %s", dataset.id, path.stat().st_size, provider.name,
                         filename)
                remote = provider.upload_file(path, filename)
            else:
                log.info("adopting %s already at %s for %s", remote.id, provider.name, dataset.id)
            session.add(ProviderFile(provider=provider.name, sha256=sha256, provider_file_id=remote.id,
                                     filename=filename, bytes=remote.bytes))
            try:
                session.commit()
            except IntegrityError:  # recorded by a process that does not share our lock (another host, SQLite)
                session.rollback()
                winner = session.scalars(select(ProviderFile.provider_file_id).where(
                    ProviderFile.provider == provider.name, ProviderFile.sha256 == sha256)).one()
                return winner
            return remote.id

    # ---------------------------------------------------------------- submitting

    def _submit(self, session: Session, job: Job) -> None:
        provider = self.provider_for(job.provider)
        remote = provider.find_job_by_tag(TAG_KEY, job.id)
        if remote is not None:
            log.info("job %s: adopting provider job %s found by its tag", job.id, remote.id)
        else:
            remote = provider.create_job(job_spec(job))
            log.info("job %s: created provider job %s", job.id, remote.id)
        if not still_in(session, job, JobStatus.SUBMITTING.value):
            raise _Moved  # a cancel came in: the next step finds the provider job by its tag and cancels it
        job.provider_job_id = remote.id
        apply_snapshot(session, job, remote)

    # ---------------------------------------------------------------- cancelling

    def _cancel(self, session: Session, job: Job) -> None:
        provider = self.provider_for(job.provider)
        provider_job_id = job.provider_job_id
        if provider_job_id is None:
            found = provider.find_job_by_tag(TAG_KEY, job.id)
            if found is None:
                if not still_in(session, job, JobStatus.CANCELLING.value):
                    raise _Moved
                transition(session, job, JobStatus.CANCELLED, reason="cancelled before reaching the provider",
                           actor="worker")
                return
            provider_job_id = found.id
        remote: ProviderJob
        try:
            remote = provider.cancel_job(provider_job_id)
        except ProviderConflictError:  # it ended (or is ending) on its own: take its word for how
            remote = provider.get_job(provider_job_id)
        if not still_in(session, job, JobStatus.CANCELLING.value):
            raise _Moved
        job.provider_job_id = provider_job_id
        apply_snapshot(session, job, remote)

    # ---------------------------------------------------------------- errors

    def _after_provider_error(self, session: Session, job_id: str, status: JobStatus, exc: ProviderError) -> Outcome:
        """Count a retryable failure (failing the job past the ceiling), or fail it on a final one."""
        job = session.get(Job, job_id, populate_existing=True)
        if job is None or job.status != status.value:
            return Outcome(OutcomeKind.MOVED, job.status if job else None, detail="moved meanwhile")
        if exc.retryable:
            attempts = (job.attempts or 0) + 1
            if attempts < self.max_attempts:
                session.execute(update(Job).where(Job.id == job_id).values(attempts=attempts))
                session.commit()
                delay = self.backoff.delay(attempts, retry_after=exc.retry_after)
                log.warning("job %s: %s failed (%s), attempt %d; retrying in %.1fs", job_id, status.value, exc,
                            attempts, delay)
                return Outcome(OutcomeKind.RETRY, job.status, retry_in=delay, detail=str(exc))
            error = job_error(exc.code or "provider_unavailable",
                                f"gave up after {attempts} attempts; the provider kept answering: {exc.message}",
                                exc.param)
            reason = f"provider unavailable after {attempts} attempts"
        else:
            if status == JobStatus.CANCELLING and job.provider_job_id is not None:
                log.warning("job %s: the provider refused the cancel: %s; the poll keeps following it", job_id, exc)
                return Outcome(OutcomeKind.CANCEL_REFUSED, job.status, detail=str(exc))
            error = job_error(exc.code or "provider_error", exc.message, exc.param)
            reason = exc.message if isinstance(exc, _Refused) else f"the provider refused: {exc.message}"
        job.attempts = (job.attempts or 0) + 1
        job.error = error
        transition(session, job, JobStatus.FAILED, reason=reason, actor="worker")
        session.commit()
        log.warning("job %s: %s", job_id, reason)
        return Outcome(OutcomeKind.FAILED, job.status, detail=str(exc))


def job_spec(job: Job) -> JobSpec:
    """What to ask the provider for: the user's request plus our tag in ``metadata``."""
    if job.training_file_id is None:
        raise ValueError(f"job {job.id} has no training file yet")
    metadata = {**(job.user_metadata or {}), TAG_KEY: job.id}
    integrations: list[dict[str, Any]] = []
    if job.wandb:
        integrations.append({"type": "wandb", "wandb": wandb_sync.provider_entry(job.wandb)})
    return JobSpec(
        model=job.model, training_file=job.training_file_id, validation_file=job.validation_file_id,
        hyperparameters=dict(job.hyperparameters or {}), method=dict(job.method) if job.method else None,
        suffix=job.suffix, seed=job.seed, metadata=metadata, integrations=integrations, tag_key=TAG_KEY,
    )


def stuck_jobs(session: Session, *, older_than: dt.datetime, limit: int = 500) -> list[str]:
    """Jobs parked in an in-between state since ``older_than``: their message was lost or their worker died.

    For our own states ``updated_at`` is the clock (every attempt moves it, so a job being retried
    is left alone). A ``cancelling`` job is touched by every poll, so its clock is the time it
    entered that state: past the threshold the cancel is simply sent again (it is idempotent).
    """
    return list(session.scalars(
        select(Job.id).where(or_(
            and_(Job.status.in_([s.value for s in OURS]), Job.updated_at < older_than),
            and_(Job.status == JobStatus.CANCELLING.value, Job.status_changed_at < older_than),
        )).order_by(Job.updated_at).limit(limit)))


def reconcile(session: Session, *, stuck_before: dt.datetime, unsynced_before: dt.datetime
              ) -> tuple[list[str], list[str]]:
    """Re-enqueue what the queue lost: an advance for stuck jobs, a sync for ones the poll missed.

    The messages go out after the caller commits (``core.dispatch``); returns (advanced, synced).
    """
    stuck = stuck_jobs(session, older_than=stuck_before)
    for job_id in stuck:
        dispatch.defer(session, TaskName.ADVANCE_JOB, job_id=job_id)
    unsynced = overdue_at_provider(session, older_than=unsynced_before)
    for job_id in unsynced:
        dispatch.defer(session, TaskName.SYNC_JOB, job_id=job_id)
    if stuck or unsynced:
        log.info("reconciler: re-enqueued %d stuck job(s), %d unsynced job(s)", len(stuck), len(unsynced))
    return stuck, unsynced
