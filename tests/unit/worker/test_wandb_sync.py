"""W&B: ``wandb.sync: true`` defers a task when the job ends, which logs our stored metrics, config and
results to an (offline) W&B run; W&B failing never touches the job; the provider entry stays native."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlalchemy.orm import Session

from core.config import Settings
from core.jobs import transition
from core.models import Job, JobMetric
from core.pipeline import job_spec
from core.states import JobStatus
from core.tasknames import TaskName
from core.wandb_sync import log_job
from tests.fixtures.api import SentTasks, TenantKey, chat_jsonl, create_job, upload_dataset
from tests.fixtures.wandb_log import config_and_summary, history

RUN = (JobStatus.UPLOADING, JobStatus.SUBMITTING, JobStatus.VALIDATING_FILES, JobStatus.RUNNING)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb-home"))
    return tmp_path / "wandb-home"


def _job(client: TestClient, session: Session, tenant: TenantKey, wandb: dict[str, object]) -> Job:
    job_id = create_job(client, upload_dataset(client, chat_jsonl(12))["id"], wandb=wandb, suffix="pricer")["id"]
    job = session.get(Job, job_id)
    assert job is not None
    session.execute(insert(JobMetric), [{"job_id": job_id, "tenant_id": tenant.tenant_id, "step": s,
                                         "train_loss": 2.0 / s, "valid_loss": 2.2 / s if s % 5 == 0 else None,
                                         "data": {}} for s in range(1, 21)])
    for status in RUN:
        transition(session, job, status, reason="test", actor="worker")
    session.commit()
    return job


def _complete_history(run_file: Path, points: int) -> list[dict[str, object]]:
    """wandb's core process writes the run file on its own: finish() may return a moment before the last record."""
    deadline = time.monotonic() + 15
    rows = history(run_file)
    while len(rows) < points and time.monotonic() < deadline:
        time.sleep(0.2)
        rows = history(run_file)
    return rows


def test_a_job_asking_for_sync_defers_the_wandb_task_when_it_ends(auth_client: TestClient, db_session: Session,
                                                                  tenant: TenantKey, sent_tasks: SentTasks) -> None:
    synced = _job(auth_client, db_session, tenant, {"project": "p", "sync": True})
    native = _job(auth_client, db_session, tenant, {"project": "p"})
    for job in (synced, native):
        transition(db_session, job, JobStatus.SUCCEEDED, reason="test", actor="provider")
    db_session.commit()

    assert (TaskName.SYNC_WANDB, {"job_id": synced.id}) in sent_tasks
    assert (TaskName.SYNC_WANDB, {"job_id": native.id}) not in sent_tasks, "native integration only: no task"


def test_the_provider_gets_the_native_entry_without_our_sync_flag(auth_client: TestClient, db_session: Session,
                                                                  tenant: TenantKey) -> None:
    job = _job(auth_client, db_session, tenant, {"project": "p", "entity": "team", "sync": True})
    job.training_file_id = "file-1"
    assert job_spec(job).integrations == [{"type": "wandb", "wandb": {"project": "p", "entity": "team"}}]


def test_a_finished_jobs_offline_run_holds_its_loss_history_config_and_results(
        auth_client: TestClient, db_session: Session, tenant: TenantKey, api_settings: Settings,
        offline: Path) -> None:
    job = _job(auth_client, db_session, tenant, {"project": "my-wandb-project", "tags": ["t1"], "sync": True})
    job.fine_tuned_model = "ft:gpt-4o-mini:org:pricer:abc"
    transition(db_session, job, JobStatus.SUCCEEDED, reason="test", actor="provider")
    db_session.commit()

    run_dir = log_job(db_session, job.id, api_settings)

    assert run_dir is not None and run_dir.is_relative_to(offline), run_dir
    [run_file] = run_dir.glob(f"run-{job.id}.wandb")
    rows = _complete_history(run_file, 20)
    assert [r["_step"] for r in rows] == list(range(1, 21))
    assert [r["train_loss"] for r in rows] == pytest.approx([2.0 / s for s in range(1, 21)])
    assert [r["_step"] for r in rows if "valid_loss" in r] == [5, 10, 15, 20]
    config, summary = config_and_summary(run_file)
    assert config["finetuner_job_id"] == job.id and config["suffix"] == "pricer"
    assert summary["status"] == "succeeded" and summary["fine_tuned_model"] == "ft:gpt-4o-mini:org:pricer:abc"


def test_wandb_failing_is_logged_and_leaves_the_job_alone(auth_client: TestClient, db_session: Session,
                                                         tenant: TenantKey, api_settings: Settings, offline: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    import wandb

    job = _job(auth_client, db_session, tenant, {"project": "p", "sync": True})
    transition(db_session, job, JobStatus.SUCCEEDED, reason="test", actor="provider")
    db_session.commit()

    def refuse(*args: object, **kwargs: object) -> None:
        raise wandb.errors.CommError("api.wandb.ai unreachable")

    monkeypatch.setattr(wandb, "init", refuse)
    assert log_job(db_session, job.id, api_settings) is None
    db_session.refresh(job)
    assert job.status == "succeeded"
    assert "W&B sync failed" in caplog.text


def test_a_running_job_is_not_logged_yet(auth_client: TestClient, db_session: Session, tenant: TenantKey,
                                         api_settings: Settings, offline: Path) -> None:
    job = _job(auth_client, db_session, tenant, {"project": "p", "sync": True})
    assert log_job(db_session, job.id, api_settings) is None
    assert not offline.exists() or not list(offline.rglob("*.wandb"))
