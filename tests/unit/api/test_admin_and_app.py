"""The operator CLI (keys shown once, revocable) and what the app factory wires at start-up."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from api.admin import cli
from api.app import EMULATOR_MOUNT, create_app
from api.deps import get_cutoff_policy
from core.config import Settings
from core.models import ApiKey
from core.tasknames import TaskName
from core.tenants import hash_key
from tests.fixtures.api import chat_jsonl, create_job, upload_dataset


def test_cli_creates_a_tenant_and_a_key_that_works_until_revoked(api_settings: Settings, api_client: TestClient,
                                                                  api_database_url: str) -> None:
    runner = CliRunner()
    db = ["--database-url", api_database_url]
    created = runner.invoke(cli, ["create-tenant", "acme", *db])
    assert created.exit_code == 0, created.output
    tenant_id = created.stdout.strip()
    assert tenant_id.startswith("ten_")

    made = runner.invoke(cli, ["create-key", "--tenant", "acme", "--name", "ci", *db])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert key.startswith("ftk_") and len(key) > 40
    assert "not shown again" in made.stderr
    assert api_client.get("/v1/jobs", headers={"Authorization": f"Bearer {key}"}).status_code == 200

    with api_client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        row = session.scalars(select(ApiKey).where(ApiKey.tenant_id == tenant_id)).one()
        assert row.key_hash == hash_key(key) and key not in (row.key_hash, row.key_prefix), "only the hash is kept"
    listed = runner.invoke(cli, ["list-keys", "--tenant", tenant_id, *db])
    assert row.id in listed.stdout and key not in listed.stdout

    revoked = runner.invoke(cli, ["revoke-key", row.id, *db])
    assert revoked.exit_code == 0, revoked.output
    assert api_client.get("/v1/jobs", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_cli_refuses_a_duplicate_tenant_and_an_unknown_one(api_database_url: str, api_client: TestClient) -> None:
    runner = CliRunner()
    db = ["--database-url", api_database_url]
    assert runner.invoke(cli, ["create-tenant", "dup", *db]).exit_code == 0
    again = runner.invoke(cli, ["create-tenant", "dup", *db])
    assert again.exit_code == 1 and "already exists" in again.stderr
    unknown = runner.invoke(cli, ["create-key", "--tenant", "nobody", *db])
    assert unknown.exit_code == 1 and unknown.stdout == ""


def test_emulator_is_mounted_only_without_an_openai_key(api_settings: Settings) -> None:
    with_emulator = create_app(api_settings.model_copy(update={"mount_emulator": True}), send_tasks=False)
    with TestClient(with_emulator) as client:
        response = client.get(f"{EMULATOR_MOUNT}/fine_tuning/jobs", headers={"Authorization": "Bearer sk-any"})
        assert response.status_code == 200, response.text
        assert response.json()["object"] == "list"
    real = create_app(api_settings.model_copy(update={"mount_emulator": True, "openai_api_key": "sk-real"}),
                      send_tasks=False)
    with TestClient(real) as client:
        assert client.get(f"{EMULATOR_MOUNT}/fine_tuning/jobs").status_code == 404


@pytest.mark.parametrize(("update", "enforced"), [
    ({}, False),  # the emulator
    ({"openai_api_key": "sk-x"}, True),
    ({"openai_api_key": "sk-x", "openai_base_url": "https://api.openai.com/v1"}, True),
    ({"openai_api_key": "sk-x", "openai_base_url": "http://127.0.0.1:8090/v1"}, False),
    ({"openai_api_key": "sk-x", "azure_openai_endpoint": "https://x.openai.azure.com"}, False),
])
def test_cutoffs_apply_only_to_openais_real_endpoint(api_settings: Settings, update: dict[str, object],
                                                     enforced: bool) -> None:
    policy = get_cutoff_policy(api_settings.model_copy(update=update), dt.date(2027, 2, 1))
    assert policy.enforce is enforced


def test_start_up_sends_deferred_tasks_through_celery_to_the_apps_broker(api_settings: Settings,
                                                                          make_tenant: Any) -> None:
    from kombu.connection import Connection

    from core import dispatch
    from worker.celery_app import QUEUE

    app = create_app(api_settings, send_tasks=True)  # broker: memory://, shared in this process
    tenant = make_tenant()
    try:
        with TestClient(app, headers=tenant.headers) as client:
            dataset = upload_dataset(client, chat_jsonl())
            job = create_job(client, dataset["id"])
        with Connection("memory://") as connection:  # type: ignore[no-untyped-call]
            queue = connection.SimpleQueue(QUEUE)
            message = queue.get(timeout=5)
            message.ack()
            queue.close()
    finally:
        dispatch.set_sender(None)
    assert message.headers["task"] == TaskName.ADVANCE_JOB
    assert message.payload[1] == {"job_id": job["id"]}
