"""``finetuner upload | jobs … | watch | metrics | admin`` against a live API in this process.

``watch`` is checked through Rich's capture: the live view drawn into a forced terminal, while the
job moves, and the exit codes of each end (0 succeeded, 1 failed, 3 cancelled).
"""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from core.config import Settings
from core.jobs import transition
from core.models import Job, JobEvent, JobMetric, utcnow
from core.states import JobStatus
from finetuner.cli import app
from finetuner.cli_service import _watch
from finetuner.client import FineTuner
from tests.fixtures.api import TenantKey, chat_jsonl, create_job, upload_dataset

runner = CliRunner()
RUNNING = (JobStatus.UPLOADING, JobStatus.SUBMITTING, JobStatus.VALIDATING_FILES, JobStatus.RUNNING)


@pytest.fixture
def api_settings(api_settings: Settings) -> Settings:
    return api_settings.model_copy(update={"stream_poll_seconds": 0.05})


@pytest.fixture
def env(live_api: str, tenant: TenantKey) -> dict[str, str]:
    return {"FINETUNER_URL": live_api, "FINETUNER_API_KEY": tenant.key}


def _move(session: Session, job_id: str, *path: JobStatus) -> None:
    job = session.get(Job, job_id)
    assert job is not None
    for status in path:
        transition(session, job, status, reason="test", actor="worker")
    session.commit()


def _metrics(session: Session, tenant: TenantKey, job_id: str, steps: range, total: int) -> None:
    for step in steps:
        session.add(JobMetric(job_id=job_id, tenant_id=tenant.tenant_id, step=step, train_loss=3.0 / step,
                              valid_loss=3.5 / step, data={"step": step, "total_steps": total}))
    session.commit()


def test_upload_create_list_show_and_cancel_from_the_command_line(env: dict[str, str], tmp_path: Path) -> None:
    train = tmp_path / "train.jsonl"
    train.write_bytes(chat_jsonl(12))

    uploaded = runner.invoke(app, ["upload", str(train), "--json"], env=env)
    assert uploaded.exit_code == 0, uploaded.output
    dataset_id = json.loads(uploaded.stdout)["id"]
    created = runner.invoke(app, ["jobs", "create", dataset_id, "--epochs", "1", "--suffix", "pricer",
                                  "--wandb-project", "my-wandb-project"], env=env)
    assert created.exit_code == 0, created.output
    job_id = created.stdout.strip()
    listed = json.loads(runner.invoke(app, ["jobs", "list", "--json"], env=env).stdout)
    shown = json.loads(runner.invoke(app, ["jobs", "show", job_id, "--json"], env=env).stdout)
    table = runner.invoke(app, ["jobs", "list"], env=env).stdout
    cancelled = runner.invoke(app, ["jobs", "cancel", job_id], env=env)

    assert [j["id"] for j in listed] == [job_id] and job_id in table
    assert shown["suffix"] == "pricer" and shown["wandb"] == {"project": "my-wandb-project"}
    assert shown["hyperparameters"]["n_epochs"] == 1
    assert cancelled.exit_code == 0 and "cancelling" in cancelled.stdout


def test_an_invalid_upload_exits_1_and_an_unknown_job_prints_the_apis_error(env: dict[str, str],
                                                                           tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": "nope"}\n')
    refused = runner.invoke(app, ["upload", str(bad)], env=env)
    assert refused.exit_code == 1 and "line 1: missing_messages_list" in refused.stderr, refused.stderr
    missing = runner.invoke(app, ["jobs", "show", "job_nope"], env=env)
    assert missing.exit_code == 1 and "404" in missing.stderr and "job_nope" in missing.stderr


def test_an_unreachable_service_exits_2() -> None:
    result = runner.invoke(app, ["jobs", "list"], env={"FINETUNER_URL": "http://127.0.0.1:9", "FINETUNER_API_KEY": "k",
                                                       "FINETUNER_MAX_RETRIES": "0"})
    assert result.exit_code == 2 and "cannot reach" in result.stderr


@pytest.mark.parametrize(("end", "code"), [((JobStatus.SUCCEEDED,), 0), ((JobStatus.FAILED,), 1),
                                           ((JobStatus.CANCELLING, JobStatus.CANCELLED), 3)])
def test_watch_exits_by_how_the_job_ended(env: dict[str, str], auth_client: TestClient, db_session: Session,
                                          tenant: TenantKey, end: tuple[JobStatus, ...], code: int) -> None:
    job_id = create_job(auth_client, upload_dataset(auth_client, chat_jsonl(12))["id"])["id"]
    _move(db_session, job_id, *RUNNING)
    _metrics(db_session, tenant, job_id, range(1, 5), 4)
    _move(db_session, job_id, *end)

    result = runner.invoke(app, ["watch", job_id], env=env)

    assert result.exit_code == code, result.output
    assert end[-1].value in result.stdout and "step 4/4" in result.stdout, result.stdout


def test_watch_draws_progress_live_while_the_job_runs(live_api: str, auth_client: TestClient,
                                                     db_session: Session, tenant: TenantKey) -> None:
    job_id = create_job(auth_client, upload_dataset(auth_client, chat_jsonl(12))["id"])["id"]
    _move(db_session, job_id, *RUNNING)
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    codes: list[int] = []

    def run() -> None:
        with FineTuner(base_url=live_api, api_key=tenant.key) as ft:
            codes.append(_watch(ft, job_id, as_json=False, console=console))

    watcher = threading.Thread(target=run, daemon=True)
    watcher.start()
    _metrics(db_session, tenant, job_id, range(1, 11), 20)
    db_session.add(JobEvent(job_id=job_id, tenant_id=tenant.tenant_id, provider_event_id="e1",
                            message="Step 10/20: training loss=0.30", created_at=utcnow()))
    db_session.commit()
    deadline = time.monotonic() + 10
    while "step 10/20" not in screen.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)
    midway = screen.getvalue()
    _metrics(db_session, tenant, job_id, range(11, 21), 20)
    _move(db_session, job_id, JobStatus.SUCCEEDED)
    watcher.join(timeout=10)

    assert "step 10/20" in midway and "running" in midway, "no live progress while running"
    assert "Step 10/20: training loss" in midway, "events do not arrive live"
    assert "▇" in midway or "█" in midway, "no sparkline"
    assert codes == [0] and "step 20/20" in screen.getvalue() and "succeeded" in screen.getvalue()


def test_metrics_csv_prints_every_point(env: dict[str, str], auth_client: TestClient, db_session: Session,
                                        tenant: TenantKey) -> None:
    job_id = create_job(auth_client, upload_dataset(auth_client, chat_jsonl(12))["id"])["id"]
    _metrics(db_session, tenant, job_id, range(1, 1501), 1500)

    csv_out = runner.invoke(app, ["metrics", job_id, "--csv"], env=env)
    summary = runner.invoke(app, ["metrics", job_id, "--max-points", "50"], env=env)

    assert csv_out.exit_code == 0 and csv_out.stdout.count("\n") == 1501
    assert csv_out.stdout.startswith("step,train_loss,")
    assert summary.exit_code == 0 and "train_loss" in summary.stdout and "1500 points" in summary.stdout


def test_admin_passes_through_to_the_operator_commands(api_database_url: str, api_client: TestClient) -> None:
    result = runner.invoke(app, ["admin", "create-tenant", "acme-cli", "--with-key", "--database-url",
                                 api_database_url])
    assert result.exit_code == 0, result.output
    assert "ftk_" in result.output
