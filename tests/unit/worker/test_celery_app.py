"""The Celery app is configured on purpose; beat acts once; locks exclude one another."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from core import dispatch
from core.config import Settings
from core.tasknames import TaskName
from worker.celery_app import broker_transport_options, celery_app, install_sender, make_celery, max_retry_delay
from worker.locks import FileLock, named_lock
from worker.schedule import MIN_EXPIRES_SECONDS, LeaderScheduler, beat_schedule


def test_tasks_are_acknowledged_late_and_come_back_when_a_worker_dies() -> None:
    conf = celery_app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.accept_content == ["json"] and conf.task_serializer == "json"
    assert conf.task_time_limit and conf.task_soft_time_limit and conf.task_soft_time_limit < conf.task_time_limit


def test_every_task_the_service_sends_is_registered_under_its_name() -> None:
    celery_app.loader.import_default_modules()
    assert {"finetuner.advance_job", "finetuner.sync_job", TaskName.POLL, TaskName.RECONCILE} <= set(celery_app.tasks)


def test_no_retry_countdown_reaches_the_redis_visibility_timeout() -> None:
    settings = Settings(broker_url="redis://127.0.0.1:6379/0", broker_visibility_timeout_seconds=600)
    assert broker_transport_options(settings)["visibility_timeout"] == 600
    assert max_retry_delay(settings) <= 600 / 4


def test_the_embedded_broker_waits_for_sqlite_instead_of_failing(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path)
    assert settings.broker_url.startswith("sqla+sqlite:///")
    assert broker_transport_options(settings) == {"connect_args": {"timeout": 30}}


def test_periodic_tasks_expire_after_one_period_but_never_within_broker_latency() -> None:
    schedule = beat_schedule(Settings(poll_interval_seconds=0.5, reconcile_interval_seconds=20))
    assert schedule["poll-active-jobs"]["schedule"] == 0.5
    assert schedule["poll-active-jobs"]["options"]["expires"] == MIN_EXPIRES_SECONDS
    assert schedule["reconcile-stuck-jobs"]["options"]["expires"] == 20


def test_deferred_tasks_go_out_through_celery_after_the_commit() -> None:
    app = make_celery(Settings(broker_url="memory://"))
    sent: list[tuple[str, dict[str, Any]]] = []
    app.send_task = lambda name, kwargs=None, **_: sent.append((name, kwargs))  # type: ignore[method-assign,unused-ignore]
    install_sender(app)
    try:
        from sqlalchemy import create_engine
        from sqlalchemy.orm import Session

        with Session(create_engine("sqlite://")) as session:
            dispatch.defer(session, "finetuner.advance_job", job_id="job_1")
            assert sent == []
            session.commit()
    finally:
        dispatch.set_sender(None)
    assert sent == [("finetuner.advance_job", {"job_id": "job_1"})]


def test_a_file_lock_is_held_by_one_holder_until_released(tmp_path: Path) -> None:
    first, second = FileLock(tmp_path, "beat"), FileLock(tmp_path, "beat")
    assert first.acquire()
    assert first.acquire(), "renewing a held lock succeeds"
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()


class _Recording(LeaderScheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.applied: list[str] = []
        super().__init__(*args, **kwargs)

    def apply_entry(self, entry: Any, producer: Any = None) -> None:  # noqa: ARG002  # celery's signature
        self.applied.append(entry.name)


def test_only_the_beat_holding_the_lock_sends_periodic_tasks(tmp_path: Path, monkeypatch: Any) -> None:
    settings = Settings(var_dir=tmp_path, broker_url="memory://")
    monkeypatch.setattr("worker.schedule.get_settings", lambda: settings)
    app = make_celery(settings)
    app.conf.beat_schedule = {"tick": {"task": TaskName.POLL, "schedule": 0.01, "options": {"expires": 1}}}
    app.loader.import_default_modules()
    app.tasks.register(celery_app.tasks[TaskName.POLL])
    one, two = _Recording(app), _Recording(app)
    try:
        for _ in range(3):
            one.tick()
            two.tick()
            time.sleep(0.02)
        assert one.applied and not two.applied, (one.applied, two.applied)
        one.close()
        time.sleep(0.02)
        two.tick()
        time.sleep(0.02)
        two.tick()
        assert two.applied, "the standby beat takes over once the leader is gone"
    finally:
        two.close()


def test_named_locks_on_the_embedded_setup_are_files(tmp_path: Path) -> None:
    lock = named_lock(Settings(var_dir=tmp_path), "poll", ttl=10)
    assert isinstance(lock, FileLock) and lock.path.parent == tmp_path / "locks"
