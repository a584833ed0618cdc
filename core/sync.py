"""Following jobs at the provider: the batched poll of DESIGN §2, and single-job syncs.

The poll is built to cost few provider calls however many jobs are active:

- one listing of provider jobs, 100 a page, newest first, paging only until every active job was
  seen or the page reaches past the creation of the oldest active one;
- an individual GET only for the active jobs those pages did not show;
- events only for jobs that are ``running`` (they gain loss points without changing status) or
  whose status changed, newest first, stopping at the newest event already stored;
- checkpoints once, when a job is seen finished;
- a final sync for every job that became terminal some other way (a cancel, an adoption, the
  ceiling): the move to a terminal state records ``final_sync_owed`` in the row, and each poll
  settles those debts by fetching the remaining events and the checkpoints, so no path leaves a
  terminal job without its history, and a crash in between only delays it.

Each job is then written in its own short transaction under its claim (``core.claims``), so one
busy or failing job never holds up the others, and a poll that dies half-way loses nothing:
the next one fetches again from the newest stored event.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from core import dispatch, overfitting
from core.claims import claim_job, still_in
from core.config import get_settings
from core.jobs import Actor, history_settled, observe_provider_status
from core.models import Checkpoint, Job, JobEvent, JobMetric, job_error, utcnow
from core.providers.base import Provider, ProviderCheckpoint, ProviderEvent, ProviderJob
from core.providers.errors import ProviderError, ProviderNotFoundError
from core.states import AT_PROVIDER, OURS, TERMINAL, JobStatus, is_provider_status, next_status
from core.tasknames import TaskName

log = logging.getLogger(__name__)

PAGE_SIZE = 100
# Provider timestamps are whole seconds and clocks drift: page a little past our own creation time.
CREATION_MARGIN = dt.timedelta(seconds=60)
METRIC_COLUMNS = ("train_loss", "train_mean_token_accuracy", "valid_loss", "valid_mean_token_accuracy",
                  "full_valid_loss", "full_valid_mean_token_accuracy")

ProviderFor = Callable[[str], Provider]


@dataclass
class PollReport:
    """What one poll of one provider did; the call counts are what the batching is judged by."""

    provider: str
    active: int = 0
    list_calls: int = 0
    get_calls: int = 0
    event_calls: int = 0
    checkpoint_calls: int = 0
    events_stored: int = 0
    metrics_stored: int = 0
    status_changes: int = 0
    busy: int = 0
    settled: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def naive_calls(self) -> int:
        """One GET and one events call per active job: what polling each job would have cost."""
        return 2 * self.active


@dataclass(frozen=True)
class _Active:
    id: str
    provider_job_id: str
    status: str
    created_at: dt.datetime


def _insert(session: Session, table: Any) -> Any:
    return (pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)(table)


def apply_snapshot(session: Session, job: Job, remote: ProviderJob, *, actor: Actor = "provider") -> bool:
    """Record what the provider says about a job; returns whether its status changed.

    The end-of-job fields are written before the status moves, so the transition (and the
    webhook announcing it) already carries the fine-tuned model or the error.
    """
    if remote.fine_tuned_model:
        job.fine_tuned_model = remote.fine_tuned_model
    if remote.trained_tokens is not None:
        job.trained_tokens = remote.trained_tokens
    if remote.estimated_finish is not None:
        job.estimated_finish = remote.estimated_finish
    resolved = _resolved_hyperparameters(remote)
    if resolved is not None and resolved != job.resolved_hyperparameters:
        job.resolved_hyperparameters = resolved
    if remote.error is not None and remote.status == "failed":
        job.error = job_error(remote.error.code, remote.error.message, remote.error.param)
    if not is_provider_status(remote.status):
        log.warning("job %s: provider %s reports unknown status %r; ignored", job.id, job.provider, remote.status)
        return False
    return observe_provider_status(session, job, remote.status, reason=f"provider reports {remote.status}",
                                   actor=actor)


def _resolved_hyperparameters(remote: ProviderJob) -> dict[str, Any] | None:
    """The provider's values once none is ``"auto"`` any more (``null`` until then, DESIGN §8)."""
    values = dict(remote.hyperparameters or {})
    if not values and remote.method:
        method_type = remote.method.get("type", "supervised")
        values = dict((remote.method.get(method_type) or {}).get("hyperparameters") or {})
    values = {k: v for k, v in values.items() if v is not None}
    if not values or any(v == "auto" for v in values.values()):
        return None
    return values


def _latest_event_id(session: Session, job_id: str) -> str | None:
    return session.scalars(
        select(JobEvent.provider_event_id).where(JobEvent.job_id == job_id)
        .order_by(JobEvent.created_at.desc(), JobEvent.id.desc()).limit(1)
    ).first()


def store_events(session: Session, job: Job, events: Iterable[ProviderEvent]) -> tuple[int, int]:
    """Insert events (oldest first) once each and the loss points they carry; returns (events, metrics) added."""
    ordered = sorted(events, key=lambda e: e.created_at)
    if not ordered:
        return 0, 0
    known = set(session.scalars(select(JobEvent.provider_event_id).where(
        JobEvent.job_id == job.id, JobEvent.provider_event_id.in_([e.id for e in ordered]))))
    fresh: list[dict[str, Any]] = []
    for event in ordered:
        if event.id in known:
            continue
        fresh.append({"job_id": job.id, "tenant_id": job.tenant_id, "provider_event_id": event.id,
                      "level": event.level or "info", "type": event.type or "message",
                      "message": event.message or "", "data": event.data, "created_at": event.created_at,
                      "recorded_at": utcnow()})
        known.add(event.id)
    added = 0
    if fresh:
        # One executemany (batched into multi-row INSERTs by SQLAlchemy, compiled once) instead of one
        # statement per event: a busy job's page is up to 1,000 events. Ids follow the events' order.
        statement = _insert(session, JobEvent).on_conflict_do_nothing(
            index_elements=["job_id", "provider_event_id"]).returning(JobEvent.id, sort_by_parameter_order=True)
        added = len(session.connection().execute(statement, fresh).all())
    metrics = store_metrics(session, job, [e for e in ordered if e.type == "metrics" and e.data])
    if metrics:
        settings = get_settings()
        overfitting.check(session, job, overfitting.Rule(patience=settings.overfitting_patience,
                                                         min_rise=settings.overfitting_min_rise))
    return added, metrics


def store_metrics(session: Session, job: Job, events: list[ProviderEvent]) -> int:
    """One row per step; a later event for the same step (an epoch's full validation) fills it in."""
    points: dict[int, dict[str, Any]] = {}
    for event in events:
        data = event.data or {}
        step = data.get("step")
        if not isinstance(step, int):
            continue
        points.setdefault(step, {}).update({k: v for k, v in data.items() if v is not None})
    if not points:
        return 0
    existing = {row.step: row for row in session.scalars(
        select(JobMetric).where(JobMetric.job_id == job.id, JobMetric.step.in_(list(points))))}
    new_rows: list[dict[str, Any]] = []
    for step, data in sorted(points.items()):
        columns = {column: float(value) for column in METRIC_COLUMNS
                   if isinstance(value := data.get(column), int | float)}
        row = existing.get(step)
        if row is None:
            new_rows.append({"job_id": job.id, "tenant_id": job.tenant_id, "step": step, "data": data,
                             "created_at": utcnow(), **dict.fromkeys(METRIC_COLUMNS), **columns})
            continue
        row.data = {**(row.data or {}), **data}
        for column, value in columns.items():
            setattr(row, column, value)
    session.flush()
    if new_rows:  # one executemany, not one ORM object per point (100,000-point curves exist)
        session.connection().execute(_insert(session, JobMetric), new_rows)
    return len(new_rows)


def store_checkpoints(session: Session, job: Job, checkpoints: Iterable[ProviderCheckpoint]) -> int:
    added = 0
    for checkpoint in checkpoints:
        statement = _insert(session, Checkpoint).values(
            job_id=job.id, tenant_id=job.tenant_id, provider_checkpoint_id=checkpoint.id,
            step=checkpoint.step, fine_tuned_model_checkpoint=checkpoint.fine_tuned_model_checkpoint,
            metrics=dict(checkpoint.metrics or {}), created_at=checkpoint.created_at,
        ).on_conflict_do_nothing(index_elements=["job_id", "provider_checkpoint_id"]).returning(Checkpoint.id)
        added += len(session.execute(statement).all())
    return added


class Syncer:
    """Brings our rows up to date with the provider. Holds no state between calls."""

    def __init__(self, sessions: sessionmaker[Session], *, provider_for: ProviderFor, lock_dir: Path) -> None:
        self.sessions = sessions
        self.provider_for = provider_for
        self.lock_dir = lock_dir

    # ---------------------------------------------------------------- the poll

    def poll(self) -> list[PollReport]:
        """Sync every job the provider holds, provider by provider."""
        with self.sessions() as session:
            rows = session.execute(
                select(Job.id, Job.provider, Job.provider_job_id, Job.status, Job.created_at)
                .where(Job.status.in_([s.value for s in AT_PROVIDER]), Job.provider_job_id.is_not(None))
            ).all()
        by_provider: dict[str, list[_Active]] = {}
        for job_id, provider_name, provider_job_id, status, created_at in rows:
            assert provider_job_id is not None  # filtered in the query
            by_provider.setdefault(provider_name, []).append(_Active(job_id, provider_job_id, status, created_at))
        reports = []
        for provider_name, active in sorted(by_provider.items()):
            report = PollReport(provider=provider_name, active=len(active))
            try:
                self._poll_provider(self.provider_for(provider_name), active, report)
            except ProviderError as exc:
                report.errors.append(f"listing failed: {exc}")
                log.warning("poll of %s stopped: %s", provider_name, exc)
            reports.append(report)
        self._settle_final_syncs(reports)
        return reports

    # ---------------------------------------------------------------- final syncs owed

    def _settle_final_syncs(self, reports: list[PollReport], limit: int = 100) -> None:
        """Fetch the rest of each owed terminal job's history and clear its debt (oldest first).

        A provider error leaves the debt for the next poll; a job the provider no longer knows has
        nothing left to fetch, so its debt is dropped.
        """
        with self.sessions() as session:
            rows = session.execute(
                select(Job.id, Job.provider, Job.provider_job_id).where(Job.final_sync_owed.is_(True))
                .order_by(Job.finished_at).limit(limit)).all()
        by_provider = {report.provider: report for report in reports}
        for job_id, provider_name, provider_job_id in rows:
            report = by_provider.get(provider_name)
            if report is None:
                report = by_provider[provider_name] = PollReport(provider=provider_name)
                reports.append(report)
            self._settle(self.provider_for(provider_name), job_id, provider_job_id, report)

    def _settle(self, provider: Provider, job_id: str, provider_job_id: str | None, report: PollReport) -> None:
        events: list[ProviderEvent] = []
        checkpoints: list[ProviderCheckpoint] = []
        if provider_job_id is not None:
            try:
                with self.sessions() as session:
                    known = _latest_event_id(session, job_id)
                report.event_calls += 1
                events = provider.list_events_since(provider_job_id, known)
                report.checkpoint_calls += 1
                checkpoints = provider.list_checkpoints(provider_job_id)
            except ProviderNotFoundError:
                log.warning("job %s: provider job %s is gone; its final sync is dropped", job_id, provider_job_id)
            except ProviderError as exc:
                report.errors.append(f"{job_id}: final sync: {exc}")
                log.warning("job %s: final sync failed, kept for the next poll: %s", job_id, exc)
                return
        with self.sessions() as session, claim_job(session, job_id, lock_dir=self.lock_dir) as job:
            if job is None or not job.final_sync_owed:
                report.busy += 1
                session.rollback()
                return
            added_events, added_metrics = store_events(session, job, events)
            store_checkpoints(session, job, checkpoints)
            history_settled(session, job)
            job.last_synced_at = utcnow()
            session.commit()
        report.events_stored += added_events
        report.metrics_stored += added_metrics
        report.settled += 1

    def _poll_provider(self, provider: Provider, active: list[_Active], report: PollReport) -> None:
        wanted = {row.provider_job_id: row for row in active}
        seen = self._list_until_oldest(provider, wanted, report)
        quiet: list[_Active] = []
        for provider_job_id, row in wanted.items():
            remote = seen.get(provider_job_id)
            if remote is None:
                try:
                    report.get_calls += 1
                    remote = provider.get_job(provider_job_id)
                except ProviderNotFoundError:
                    report.errors.append(f"{row.id}: provider job {provider_job_id} not found")
                    log.warning("job %s: provider job %s not found at %s", row.id, provider_job_id, provider.name)
                    continue
                except ProviderError as exc:
                    report.errors.append(f"{row.id}: {exc}")
                    continue
            if remote.status != "running" and next_status(row.status, remote.status) is None:
                quiet.append(row)  # nothing to fetch or write but "seen now"
                continue
            self._sync_one(provider, row, remote, report)
        self._mark_synced(quiet)

    def _mark_synced(self, rows: list[_Active]) -> None:
        """One statement for every job seen unchanged (most of them, in a typical poll)."""
        if not rows:
            return
        now = utcnow()
        with self.sessions() as session:
            for status in {row.status for row in rows}:
                ids = [row.id for row in rows if row.status == status]
                session.execute(update(Job).where(Job.id.in_(ids), Job.status == status)
                                .values(last_synced_at=now).execution_options(synchronize_session=False))
            session.commit()

    def _list_until_oldest(self, provider: Provider, wanted: dict[str, _Active], report: PollReport
                           ) -> dict[str, ProviderJob]:
        oldest = min(row.created_at for row in wanted.values()) - CREATION_MARGIN
        seen: dict[str, ProviderJob] = {}
        after: str | None = None
        while True:
            report.list_calls += 1
            page, has_more = provider.list_jobs_page(after, limit=PAGE_SIZE)
            for remote in page:
                if remote.id in wanted:
                    seen[remote.id] = remote
            if not page or not has_more or len(seen) == len(wanted) or page[-1].created_at < oldest:
                return seen
            after = page[-1].id

    # ---------------------------------------------------------------- one job

    def sync_job(self, job_id: str) -> bool:
        """Sync one job now (a provider webhook, an overdue job); returns whether anything was fetched.

        A job not at the provider yet is the pipeline's business: it is nudged instead.
        """
        with self.sessions() as session:
            job = session.get(Job, job_id)
            if job is None or job.status in TERMINAL:
                return False
            provider_job_id = job.provider_job_id
            if provider_job_id is None or job.status in OURS:
                dispatch.defer(session, TaskName.ADVANCE_JOB, job_id=job.id)
                session.commit()
                return False
            row = _Active(job.id, provider_job_id, job.status, job.created_at)
            provider_name = job.provider
        provider = self.provider_for(provider_name)
        report = PollReport(provider=provider_name, active=1)
        try:
            report.get_calls += 1
            remote = provider.get_job(row.provider_job_id)
        except ProviderError as exc:
            log.warning("job %s: sync failed: %s", job_id, exc)
            return False
        self._sync_one(provider, row, remote, report)
        return True

    def _sync_one(self, provider: Provider, row: _Active, remote: ProviderJob, report: PollReport) -> None:
        """Fetch what this job needs (events, checkpoints), then write it all in one transaction."""
        changed = next_status(row.status, remote.status) is not None
        wants_events = remote.status == "running" or changed
        finished = changed and JobStatus(remote.status) in TERMINAL
        try:
            events: list[ProviderEvent] = []
            if wants_events:
                with self.sessions() as session:
                    known = _latest_event_id(session, row.id)
                report.event_calls += 1
                events = provider.list_events_since(remote.id, known)
            checkpoints: list[ProviderCheckpoint] = []
            if finished:
                report.checkpoint_calls += 1
                checkpoints = provider.list_checkpoints(remote.id)
        except ProviderError as exc:
            report.errors.append(f"{row.id}: {exc}")
            log.warning("job %s: could not fetch from %s: %s", row.id, provider.name, exc)
            return
        with self.sessions() as session, claim_job(session, row.id, lock_dir=self.lock_dir) as job:
            if job is None or job.status != row.status or not still_in(session, job, row.status):
                report.busy += 1  # someone else is moving it; the next poll looks again
                session.rollback()
                return
            added_events, added_metrics = store_events(session, job, events)
            store_checkpoints(session, job, checkpoints)
            if apply_snapshot(session, job, remote):
                report.status_changes += 1
            if finished and job.final_sync_owed:
                history_settled(session, job)  # events and checkpoints were fetched after the provider said it ended
            job.last_synced_at = utcnow()
            session.commit()
        report.events_stored += added_events
        report.metrics_stored += added_metrics


def overdue_at_provider(session: Session, *, older_than: dt.datetime, limit: int = 500) -> list[str]:
    """Jobs the provider holds whose last sync is older than ``older_than`` (the poll missed them)."""
    synced = func.coalesce(Job.last_synced_at, Job.status_changed_at)
    return list(session.scalars(
        select(Job.id).where(Job.status.in_([s.value for s in AT_PROVIDER]), Job.provider_job_id.is_not(None),
                             synced < older_than).order_by(synced).limit(limit)))
