"""The whole flow on the machine's real services: PostgreSQL, Redis, a real Celery worker process.

One throwaway PostgreSQL database (migrated with Alembic) and one Redis database number for the
session; the emulator serves on a loopback port in this process, so tests can read its call log
and inject faults; the worker (with embedded beat) is a ``celery worker -B`` subprocess configured
only through the environment, exactly as in production. The API runs in-process (TestClient)
and sends its tasks to the same Redis broker.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from celery import Celery
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from core import dispatch
from core.config import Settings
from core.db import get_sessionmaker
from core.tenants import create_api_key, create_tenant
from emulator import EmulatorSettings, create_together_app
from tests.emulator.server import RunningEmulator, serve_emulator
from tests.fixtures.api import pg_database
from tests.fixtures.celery import ROOT, launch_celery, worker_args
from worker.celery_app import install_sender, make_celery

REDIS_URL = os.environ.get("FINETUNER_TEST_WORKER_REDIS_URL", "redis://127.0.0.1:6379/13")
EMULATOR_KEY = "sk-emulator-worker-integration"
READY_TIMEOUT = 60.0
# Slow enough that a poll every 0.2 s sees each provider state (validating ~0.3 s, queued ~0.6 s, running ~2 s),
# fast enough that a job takes a few seconds.
FLOW_TIME_SCALE = 0.03


@dataclass
class Stack:
    settings: Settings
    emulator: RunningEmulator
    together: RunningEmulator
    sessions: sessionmaker[Session]
    client: TestClient
    worker_log: Path
    celery: Celery

    def worker_output(self) -> str:
        return self.worker_log.read_text(errors="replace")[-6000:]


def worker_env(settings: Settings, emulator: RunningEmulator,
               together: RunningEmulator | None = None) -> dict[str, str]:
    """The worker's whole configuration, as production passes it: environment variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINETUNER_", "OPENAI_", "TOGETHER_"))}
    if together is not None:
        env.update({"TOGETHER_BASE_URL": together.base_url, "TOGETHER_API_KEY": together.api_key})
    env.update({
        "PYTHONPATH": str(ROOT),
        "FINETUNER_ENVIRONMENT": "test",
        "FINETUNER_DATABASE_URL": settings.database_url,
        "FINETUNER_BROKER_URL": settings.broker_url,
        "FINETUNER_VAR_DIR": str(settings.var_dir),
        "FINETUNER_STORAGE_DIR": str(settings.storage_path),
        "FINETUNER_POLL_INTERVAL_SECONDS": str(settings.poll_interval_seconds),
        "FINETUNER_RECONCILE_INTERVAL_SECONDS": str(settings.reconcile_interval_seconds),
        "FINETUNER_STUCK_AFTER_SECONDS": str(settings.stuck_after_seconds),
        "FINETUNER_WORKER_CONCURRENCY": "2",
        "FINETUNER_PROVIDER_BACKOFF_INITIAL_SECONDS": "0.05",
        "FINETUNER_PROVIDER_BACKOFF_MAX_SECONDS": "0.5",
        "OPENAI_BASE_URL": emulator.base_url,
        "OPENAI_API_KEY": emulator.api_key,
    })
    return env


def start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """``celery worker -B`` as a child; returns once it reports ready (or fails with its log)."""
    return launch_celery(worker_args("test", beat=True), env=env, log_path=log_path, timeout=READY_TIMEOUT)


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # warm shutdown: unacked messages go back to the broker
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Stack]:
    var_dir = tmp_path_factory.mktemp("worker-var")
    with pg_database("finetuner_test_worker") as database_url, \
            serve_emulator(EmulatorSettings(api_key=EMULATOR_KEY, time_scale=FLOW_TIME_SCALE)) as emulator, \
            serve_emulator(EmulatorSettings(api_key=EMULATOR_KEY, time_scale=FLOW_TIME_SCALE), prefix="/together",
                           factory=create_together_app) as together:
        settings = Settings(
            environment="test", var_dir=var_dir, database_url=database_url, broker_url=redis_url,
            storage_dir=var_dir / "storage", mount_emulator=False, openai_api_key=None, openai_base_url=None,
            poll_interval_seconds=0.2, reconcile_interval_seconds=2.0, stuck_after_seconds=10.0,
        )
        log_path = var_dir / "worker.log"
        worker = start_worker(worker_env(settings, emulator, together), log_path)
        celery = make_celery(settings)
        sessions = get_sessionmaker(database_url)
        with sessions() as session:
            tenant = create_tenant(session, f"worker-it-{secrets.token_hex(3)}")
            _, key = create_api_key(session, tenant.id, name="test")
            session.commit()
        app = create_app(settings, send_tasks=False)
        try:
            with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as client:
                yield Stack(settings, emulator, together, sessions, client, log_path, celery)
        finally:
            dispatch.set_sender(None)
            stop_worker(worker)


@pytest.fixture(autouse=True)
def _send_to_the_stack(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests elsewhere swap ``core.dispatch``'s sender; a test of this stack sends to its broker."""
    if "stack" not in request.fixturenames:
        yield
        return
    stack: Stack = request.getfixturevalue("stack")
    install_sender(stack.celery)
    yield
    dispatch.set_sender(None)
