"""Outbound webhooks: outbox written with the change, signed delivery, retries, SSRF refusals."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks import Webhook as Verifier

from core import crypto, webhooks
from core.catalog import ModelCatalog
from core.config import Settings
from core.errors import Unprocessable
from core.jobs import JobRequest, create_job, transition
from core.models import Dataset, Tenant, Webhook, WebhookAttempt, WebhookDelivery
from core.states import JobStatus
from tests.fixtures.db import sqlite_sessions
from tests.fixtures.receiver import Receiver


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(var_dir=tmp_path, webhook_allow_loopback=True, webhook_timeout_seconds=1.0,
                    webhook_retry_base_seconds=0.0)


@pytest.fixture
def factory(tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[sessionmaker[Session]]:
    monkeypatch.setattr("core.crypto.get_settings", lambda: settings)
    monkeypatch.setattr("core.webhooks.get_settings", lambda: settings)
    crypto._fernet.cache_clear()
    with sqlite_sessions(tmp_path / "wh.db") as sessions:
        yield sessions


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _job_with_webhook(factory: sessionmaker[Session], url: str, events: list[str]) -> tuple[str, str, str]:
    with factory() as session, session.begin():
        tenant = Tenant(name="t")
        session.add(tenant)
        session.flush()
        dataset = Dataset(tenant_id=tenant.id, name="d", sha256="b" * 64, bytes=1, format="chat",
                          num_examples=10, status="valid", report={})
        session.add(dataset)
        session.flush()
        hook, secret = webhooks.create_webhook(session, tenant.id, url, events)
        job, _ = create_job(session, tenant.id, JobRequest(training_dataset_id=dataset.id, model="gpt-4o-mini"),
                            catalog=ModelCatalog.load(), enforce_cutoff=False)
        return job.id, hook.id, secret


def test_secret_is_encrypted_at_rest(factory: sessionmaker[Session], receiver: Receiver) -> None:
    _, hook_id, secret = _job_with_webhook(factory, receiver.url, ["job.*"])
    with factory() as session:
        stored = session.get(Webhook, hook_id)
        assert stored is not None
        assert secret.startswith("whsec_") and secret not in stored.secret_encrypted
        assert crypto.decrypt(stored.secret_encrypted) == secret


def test_transition_writes_outbox_only_when_committed(factory: sessionmaker[Session], receiver: Receiver) -> None:
    job_id, _, _ = _job_with_webhook(factory, receiver.url, ["job.uploading"])
    with factory() as session:
        from core.models import Job

        job = session.get(Job, job_id)
        assert job is not None
        transition(session, job, JobStatus.UPLOADING, reason="r", actor="worker")
        session.rollback()
    with factory() as session:
        assert session.scalars(select(WebhookDelivery)).all() == []


def test_delivery_is_signed_and_verifiable(factory: sessionmaker[Session], receiver: Receiver,
                                            settings: Settings) -> None:
    job_id, _, secret = _job_with_webhook(factory, receiver.url, ["job.uploading", "job.failed"])
    with factory() as session, session.begin():
        from core.models import Job

        job = session.get(Job, job_id)
        assert job is not None
        transition(session, job, JobStatus.UPLOADING, reason="r", actor="worker")
        transition(session, job, JobStatus.FAILED, reason="boom", actor="worker")
    with factory() as session:
        deliveries = session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
    assert [d.event_type for d in deliveries] == ["job.uploading", "job.failed"]
    for delivery in deliveries:
        result = webhooks.deliver(delivery.id, session_factory=factory, settings=settings)
        assert result is not None and result.ok
    assert len(receiver.received) == 2
    for headers, body in receiver.received:
        payload = Verifier(secret).verify(body, headers)
        assert payload["data"]["job_id"] == job_id
    assert webhooks.deliver(deliveries[0].id, session_factory=factory, settings=settings) is None, \
        "a delivered message is not sent again"


def test_a_new_job_announces_job_pending_like_every_other_status(factory: sessionmaker[Session],
                                                                 receiver: Receiver, settings: Settings) -> None:
    job_id, _, _ = _job_with_webhook(factory, receiver.url, ["job.pending"])
    with factory() as session:
        delivery_id = session.scalars(select(WebhookDelivery.id)).one()
    result = webhooks.deliver(delivery_id, session_factory=factory, settings=settings)
    assert result is not None and result.ok
    (_, body), = receiver.received
    payload = json.loads(body)
    assert payload["type"] == "job.pending"
    assert payload["data"]["job_id"] == job_id and payload["data"]["status"] == "pending"
    assert payload["data"]["previous_status"] is None and payload["data"]["reason"] == "created"


def test_failing_receiver_is_retried_with_the_same_webhook_id(factory: sessionmaker[Session], receiver: Receiver,
                                                               settings: Settings) -> None:
    job_id, hook_id, _secret = _job_with_webhook(factory, receiver.url, ["job.uploading"])
    receiver.statuses = [500, 503, 500]
    with factory() as session, session.begin():
        from core.models import Job

        job = session.get(Job, job_id)
        assert job is not None
        transition(session, job, JobStatus.UPLOADING, reason="r", actor="worker")
    with factory() as session:
        delivery_id = session.scalars(select(WebhookDelivery.id)).one()
    results = []
    for _ in range(4):
        with factory() as session:
            assert webhooks.due_delivery_ids(session) == [delivery_id]
        results.append(webhooks.deliver(delivery_id, session_factory=factory, settings=settings))
    assert [r.status_code for r in results if r] == [500, 503, 500, 200]
    assert len({h["webhook-id"] for h, _ in receiver.received}) == 1
    with factory() as session:
        assert session.get(WebhookDelivery, delivery_id).status == "delivered"  # type: ignore[union-attr]
        attempts = session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id)).all()
        assert [a.status_code for a in attempts] == [500, 503, 500, 200]
        listed, _ = webhooks.list_deliveries(session, job_tenant(session, job_id), hook_id, limit=10, after=None)
        assert len(listed[0][1]) == 4


def job_tenant(session: Session, job_id: str) -> str:
    from core.models import Job

    job = session.get(Job, job_id)
    assert job is not None
    return job.tenant_id


def test_slow_receiver_is_timed_out_and_recorded(factory: sessionmaker[Session], receiver: Receiver,
                                                 settings: Settings) -> None:
    job_id, _, _ = _job_with_webhook(factory, receiver.url, ["job.uploading"])
    receiver.delay = 3.0
    with factory() as session, session.begin():
        from core.models import Job

        job = session.get(Job, job_id)
        assert job is not None
        transition(session, job, JobStatus.UPLOADING, reason="r", actor="worker")
    with factory() as session:
        delivery_id = session.scalars(select(WebhookDelivery.id)).one()
    started = time.perf_counter()
    result = webhooks.deliver(delivery_id, session_factory=factory, settings=settings)
    assert time.perf_counter() - started < 2.5
    assert result is not None and not result.ok and "timed out" in (result.error or "")


@pytest.mark.parametrize("url", ["ftp://example.com/x", "http://169.254.169.254/latest/meta-data",
                                 "http://10.0.0.5/hook", "http://metadata.google.internal/x", "not a url"])
def test_internal_or_odd_targets_are_refused(url: str, tmp_path: Path) -> None:
    with pytest.raises(Unprocessable):
        webhooks.check_target_url(url, Settings(var_dir=tmp_path))


def test_loopback_needs_the_setting(tmp_path: Path) -> None:
    with pytest.raises(Unprocessable, match="loopback"):
        webhooks.check_target_url("http://127.0.0.1:9/x", Settings(var_dir=tmp_path))
    webhooks.check_target_url("http://127.0.0.1:9/x", Settings(var_dir=tmp_path, webhook_allow_loopback=True))


def test_unknown_event_types_are_refused() -> None:
    with pytest.raises(Unprocessable, match="unknown event type"):
        webhooks.validate_events(["job.exploded"])
