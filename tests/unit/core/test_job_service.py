"""The job service: the one function that moves a job, and the rules around creating one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import dispatch
from core.catalog import ModelCatalog
from core.errors import Conflict, NotFound, Unprocessable
from core.jobs import InvalidTransition, JobRequest, create_job, observe_provider_status, request_cancel, transition
from core.models import Dataset, Job, JobTransition, Tenant
from core.states import JobStatus
from core.tasknames import TaskName

TODAY = dt.date(2026, 11, 23)


@pytest.fixture
def session(sqlite_session: Session) -> Session:
    return sqlite_session


@pytest.fixture
def sent() -> Iterator[list[tuple[str, dict[str, object]]]]:
    calls: list[tuple[str, dict[str, object]]] = []
    dispatch.set_sender(lambda name, kwargs: calls.append((name, kwargs)))
    yield calls
    dispatch.set_sender(None)


def _tenant(session: Session, name: str) -> Tenant:
    tenant = Tenant(name=name)
    session.add(tenant)
    session.flush()
    return tenant


def _dataset(session: Session, tenant: Tenant, *, status: str = "valid", fmt: str = "chat") -> Dataset:
    report = {"billed_tokens": 100_000, "n_epochs": 3,
              "errors": [] if status == "valid" else [{"line": 7, "code": "invalid_json", "message": "bad"}]}
    ds = Dataset(tenant_id=tenant.id, name="d.jsonl", sha256="a" * 64, bytes=10, format=fmt,
                 num_examples=10, status=status, report=report)
    session.add(ds)
    session.flush()
    return ds


def _create(session: Session, tenant: Tenant, dataset: Dataset, **overrides: object) -> tuple[Job, bool]:
    key = overrides.pop("idempotency_key", None)
    request = JobRequest(training_dataset_id=dataset.id, model="gpt-4o-mini", **overrides)  # type: ignore[arg-type]
    return create_job(session, tenant.id, request, catalog=ModelCatalog.load(), idempotency_key=key,  # type: ignore[arg-type]
                      today=TODAY)


def test_transition_writes_its_row_in_the_same_transaction(session: Session) -> None:
    tenant = _tenant(session, "a")
    job, _ = _create(session, tenant, _dataset(session, tenant))
    transition(session, job, JobStatus.UPLOADING, reason="uploading files", actor="worker")
    session.rollback()
    assert session.scalars(select(JobTransition)).all() == [], "rolled back with the status change"
    job, _ = _create(session, tenant, _dataset(session, tenant))
    transition(session, job, JobStatus.UPLOADING, reason="uploading files", actor="worker")
    session.commit()
    rows = session.scalars(select(JobTransition).where(JobTransition.job_id == job.id).order_by(JobTransition.id))
    assert [(r.from_status, r.to_status, r.actor) for r in rows] == [
        (None, "pending", "api"), ("pending", "uploading", "worker")]


def test_forbidden_move_raises_and_changes_nothing(session: Session) -> None:
    tenant = _tenant(session, "a")
    job, _ = _create(session, tenant, _dataset(session, tenant))
    with pytest.raises(InvalidTransition, match="cannot move from pending to running"):
        transition(session, job, JobStatus.RUNNING, reason="bogus", actor="worker")
    assert job.status == "pending"


def test_stale_provider_status_is_ignored_and_forward_skip_applied(session: Session) -> None:
    tenant = _tenant(session, "a")
    job, _ = _create(session, tenant, _dataset(session, tenant))
    for target in (JobStatus.UPLOADING, JobStatus.SUBMITTING):
        transition(session, job, target, reason="pipeline", actor="worker")
    assert observe_provider_status(session, job, "running", reason="poll", actor="provider")
    assert not observe_provider_status(session, job, "validating_files", reason="old webhook", actor="provider")
    assert job.status == "running"
    assert observe_provider_status(session, job, "succeeded", reason="poll", actor="provider")
    assert not observe_provider_status(session, job, "running", reason="late poll", actor="provider")
    assert job.status == "succeeded" and job.finished_at is not None


def test_cancelling_is_kept_until_the_provider_ends_the_job(session: Session) -> None:
    tenant = _tenant(session, "a")
    job, _ = _create(session, tenant, _dataset(session, tenant))
    request_cancel(session, tenant.id, job.id)
    assert not observe_provider_status(session, job, "running", reason="poll", actor="provider")
    assert observe_provider_status(session, job, "cancelled", reason="poll", actor="provider")
    with pytest.raises(Conflict, match="already cancelled"):
        request_cancel(session, tenant.id, job.id)


def test_create_defers_the_advance_until_commit(session: Session, sent: list[tuple[str, dict[str, object]]]) -> None:
    tenant = _tenant(session, "a")
    job, created = _create(session, tenant, _dataset(session, tenant))
    assert created and sent == []
    session.commit()
    assert sent == [(TaskName.ADVANCE_JOB, {"job_id": job.id})]


def test_rolled_back_create_sends_nothing(session: Session, sent: list[tuple[str, dict[str, object]]]) -> None:
    tenant = _tenant(session, "a")
    _create(session, tenant, _dataset(session, tenant))
    session.rollback()
    session.commit()
    assert sent == []


def test_idempotency_key_replays_same_body_and_refuses_a_different_one(session: Session) -> None:
    tenant = _tenant(session, "a")
    dataset = _dataset(session, tenant)
    first, created = _create(session, tenant, dataset, idempotency_key="k1", suffix="x")
    again, created_again = _create(session, tenant, dataset, idempotency_key="k1", suffix="x")
    assert created and not created_again and again.id == first.id
    with pytest.raises(Unprocessable, match="already used with a different request body"):
        _create(session, tenant, dataset, idempotency_key="k1", suffix="y")
    other = _tenant(session, "b")
    theirs, created_theirs = _create(session, other, _dataset(session, other), idempotency_key="k1", suffix="x")
    assert created_theirs and theirs.id != first.id, "keys are per tenant"


def test_invalid_dataset_is_refused_with_its_first_errors(session: Session) -> None:
    tenant = _tenant(session, "a")
    bad = _dataset(session, tenant, status="invalid")
    with pytest.raises(Unprocessable, match=r"training dataset ds_\w+ is invalid.*line 7: invalid_json"):
        _create(session, tenant, bad)


def test_another_tenants_dataset_is_not_found(session: Session) -> None:
    owner, intruder = _tenant(session, "a"), _tenant(session, "b")
    dataset = _dataset(session, owner)
    with pytest.raises(NotFound, match=dataset.id):
        _create(session, intruder, dataset)


def test_unknown_model_and_method_mismatch_are_refused(session: Session) -> None:
    tenant = _tenant(session, "a")
    dataset = _dataset(session, tenant)
    request = JobRequest(training_dataset_id=dataset.id, model="no-such-model")
    with pytest.raises(Unprocessable, match="not fine-tunable"):
        create_job(session, tenant.id, request, catalog=ModelCatalog.load(), today=TODAY)
    with pytest.raises(Unprocessable, match="needs preference pairs"):
        _create(session, tenant, dataset, method={"type": "dpo"})


def test_hyperparameters_default_to_auto_and_cost_is_estimated(session: Session) -> None:
    tenant = _tenant(session, "a")
    job, _ = _create(session, tenant, _dataset(session, tenant), hyperparameters={"n_epochs": 2})
    assert job.hyperparameters == {"n_epochs": 2, "batch_size": "auto", "learning_rate_multiplier": "auto"}
    assert job.method == {"type": "supervised", "supervised": {"hyperparameters": job.hyperparameters}}
    assert job.estimated_cost_usd == pytest.approx(100_000 * 2 * 3.00 / 1e6)


def test_reserved_metadata_key_is_refused(session: Session) -> None:
    tenant = _tenant(session, "a")
    with pytest.raises(Unprocessable, match="reserved"):
        _create(session, tenant, _dataset(session, tenant), metadata={"finetuner_job_id": "x"})
