"""Claiming work so two workers never act on the same job, or upload the same file, at once.

DESIGN §2: "work is claimed, not assumed". On PostgreSQL a job is claimed with
``SELECT … FOR UPDATE SKIP LOCKED`` (a busy job is skipped, not waited for) and a file upload is
serialised with a transaction-scoped advisory lock keyed by (provider, sha256). SQLite — the
embedded, single-machine default — has no row locks, so the same roles are played by ``flock``
on small files under ``<var_dir>/locks``; the kernel drops them when a process dies, like a
database drops a dead session's locks.

The API changes a job (cancel) without taking these claims, so every writer also checks, at write
time, that the row is still in the state its work was based on (:func:`still_in`). On SQLite that
compare-and-set takes the database's write lock, so nothing can move the row until the commit.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Select, select, text, update
from sqlalchemy.orm import Session

from core.models import Job, utcnow

T = TypeVar("T")


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def skip_locked(session: Session, query: Select[T]) -> Select[T]:
    """``query`` claiming the rows it returns: on PostgreSQL ``FOR UPDATE SKIP LOCKED`` (a row
    another transaction holds is skipped, not waited for); elsewhere unchanged, since SQLite has no
    row locks and its writers are serialised by the database lock and :func:`still_in`."""
    if _dialect(session) == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


@contextlib.contextmanager
def _flock(path: Path, *, blocking: bool) -> Iterator[bool]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def claim_job(session: Session, job_id: str, *, lock_dir: Path) -> Iterator[Job | None]:
    """The job row, held for this unit of work — or ``None`` if another worker holds it (or it is gone).

    Commit inside the ``with`` block: the claim must outlive the writes it protects. On
    PostgreSQL the row lock ends with the transaction anyway.
    """
    if _dialect(session) == "postgresql":
        query = skip_locked(session, select(Job).where(Job.id == job_id)).execution_options(populate_existing=True)
        yield session.scalars(query).first()
        return
    with _flock(lock_dir / f"job-{job_id}.lock", blocking=False) as held:
        if not held:
            yield None
            return
        yield session.scalars(select(Job).where(Job.id == job_id).execution_options(populate_existing=True)).first()


def still_in(session: Session, job: Job, expected: str) -> bool:
    """Compare-and-set guard before writing what was learned while the row was not write-locked.

    ``False`` means someone (the API's cancel, typically) moved the job meanwhile: the caller
    drops what it was about to write and re-reads. ``True`` leaves the row write-locked until
    the commit on every backend.
    """
    result = session.execute(
        update(Job).where(Job.id == job.id, Job.status == expected).values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def _advisory_key(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


@contextlib.contextmanager
def upload_lock(session: Session, provider: str, sha256: str, *, lock_dir: Path) -> Iterator[None]:
    """Serialise "is this file at the provider yet? if not, upload it" per (provider, sha256).

    Waits (rather than skips): the second job sharing a dataset simply reuses the first's upload
    once it is recorded. On PostgreSQL the lock lasts until ``session``'s transaction ends, so
    commit the provider-file row inside the ``with`` block.
    """
    if _dialect(session) == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _advisory_key(f"{provider}:{sha256}")})
        yield
        return
    with _flock(lock_dir / f"upload-{provider}-{sha256}.lock", blocking=True):
        yield
