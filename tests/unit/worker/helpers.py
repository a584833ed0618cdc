"""Arranging rows the way the API would, for tests that exercise the worker side directly."""

from __future__ import annotations

import io
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.catalog import ModelCatalog
from core.jobs import JobRequest, create_job
from core.models import Dataset, Job, JobTransition, Tenant
from core.storage import BlobStore

SentTasks = list[tuple[str, dict[str, Any]]]
MODEL = "gpt-4o-mini-2024-07-18"


def chat_lines(n: int, *, tag: str = "") -> bytes:
    rows = [json.dumps({"messages": [
        {"role": "system", "content": "You label sentiment."},
        {"role": "user", "content": f"Review {tag}{i}: it was {'great' if i % 2 else 'awful'}."},
        {"role": "assistant", "content": "positive" if i % 2 else "negative"},
    ]}) for i in range(n)]
    return ("\n".join(rows) + "\n").encode()


def make_tenant(session: Session) -> str:
    tenant = Tenant(name=f"tenant-{secrets.token_hex(4)}")
    session.add(tenant)
    session.flush()
    return tenant.id


def make_dataset(session: Session, store: BlobStore, tenant_id: str, *, n: int = 12, tag: str = "") -> str:
    """A valid chat dataset whose canonical blob is in ``store`` (what the worker uploads)."""
    blob = store.put_stream(io.BytesIO(chat_lines(n, tag=tag)))
    dataset = Dataset(tenant_id=tenant_id, name="train.jsonl", sha256=blob.sha256, bytes=blob.size,
                      canonical_sha256=blob.sha256, canonical_bytes=blob.size, format="chat", num_examples=n,
                      status="valid", report={"errors": []})
    session.add(dataset)
    session.flush()
    return dataset.id


def make_job(session: Session, tenant_id: str, dataset_id: str, **fields: Any) -> str:
    request = JobRequest(training_dataset_id=dataset_id, model=fields.pop("model", MODEL), **fields)
    job, _ = create_job(session, tenant_id, request, catalog=ModelCatalog.load(None), enforce_cutoff=False)
    return job.id


def transitions(session: Session, job_id: str) -> list[str]:
    rows = session.scalars(select(JobTransition).where(JobTransition.job_id == job_id).order_by(JobTransition.id))
    return [row.to_status for row in rows]


def status_of(session: Session, job_id: str) -> str:
    job = session.get(Job, job_id, populate_existing=True)
    assert job is not None
    return job.status


def wait_for(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.05, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
