"""A stack to break on purpose: real PostgreSQL, real Redis, Celery workers as killable process groups.

Each test gets a fresh database, Redis db and emulator, and starts (and kills) its own workers.
Recovery knobs are turned down (reconcile every 0.5 s, "stuck" after 2 s) so the reconciler finds
what a kill left behind within seconds; everything else is the production code path.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from core import dispatch
from core.config import Settings
from core.db import get_sessionmaker
from core.models import Job
from core.tenants import create_api_key, create_tenant
from emulator import EmulatorSettings
from tests.emulator.server import RunningEmulator, serve_emulator
from tests.fixtures.api import pg_database
from tests.fixtures.celery import kill, launch_celery, worker_args
from tests.integration.worker.conftest import worker_env
from worker.celery_app import install_sender, make_celery

REDIS_URL = os.environ.get("FINETUNER_TEST_RECOVERY_REDIS_URL", "redis://127.0.0.1:6379/12")
EMULATOR_KEY = "sk-emulator-recovery"
TIME_SCALE = 0.01  # a 12-example job takes ~1-2 s at the provider


@dataclass
class Recovery:
    settings: Settings
    emulator: RunningEmulator
    sessions: sessionmaker[Session]
    client: TestClient
    var_dir: Path
    env: dict[str, str]
    api_key: str = ""
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, *args: str, name: str = "worker", ready: bytes = b" ready.", loglevel: str = "INFO"
              ) -> subprocess.Popen[bytes]:
        """A Celery process in its own process group (so SIGKILL takes its pool children too)."""
        process = launch_celery(list(args), env=self.env, log_path=self.var_dir / f"{name}.log", ready=ready,
                                loglevel=loglevel, own_group=True)
        self.workers.append(process)
        return process

    def start_worker(self, *, beat: bool = True, name: str = "worker", loglevel: str = "INFO"
                     ) -> subprocess.Popen[bytes]:
        return self.start(*worker_args(name, beat=beat), name=name, loglevel=loglevel)

    @staticmethod
    def kill(process: subprocess.Popen[bytes]) -> None:
        """SIGKILL to the whole group: no warm shutdown, no message handed back to the broker."""
        kill(process, group=True)

    def statuses(self, job_ids: list[str]) -> dict[str, str]:
        with self.sessions() as session:
            return dict(session.execute(select(Job.id, Job.status).where(Job.id.in_(job_ids))).tuples().all())

    def wait_for(self, predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; worker log tail:\n"
                                     f"{self.log_tail()}")
            time.sleep(0.1)

    def wait_all_terminal(self, job_ids: list[str], *, timeout: float) -> dict[str, str]:
        terminal = {"succeeded", "failed", "cancelled"}
        self.wait_for(lambda: set(self.statuses(job_ids).values()) <= terminal, timeout=timeout,
                      what=f"{len(job_ids)} jobs to end: {sorted(self.statuses(job_ids).values())}")
        return self.statuses(job_ids)

    def log_tail(self, name: str = "worker") -> str:
        path = self.var_dir / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else "(no log)"

    def upload(self, content: bytes, name: str = "train.jsonl") -> str:
        response = self.client.post("/v1/datasets", files={"file": (name, content, "application/jsonl")})
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "valid", response.json()["report"]["errors"][:3]
        return str(response.json()["id"])

    def submit(self, dataset_id: str, **fields: Any) -> str:
        body = {"training_dataset_id": dataset_id, "model": "gpt-4o-mini-2024-07-18", **fields}
        response = self.client.post("/v1/jobs", json=body)
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    def provider_jobs(self) -> list[Any]:
        client = self.emulator.client()
        return list(client.fine_tuning.jobs.list(limit=100))

    def provider_files(self) -> list[Any]:
        return list(self.emulator.client().files.list(purpose="fine-tune"))


def dataset_bytes(index: int, n: int = 12) -> bytes:
    """A small valid chat dataset; different ``index`` values give different files (and sha256s)."""
    rows = [{"messages": [{"role": "user", "content": f"file {index} question {i}: is {i} even?"},
                          {"role": "assistant", "content": "yes" if i % 2 == 0 else "no"}]} for i in range(n)]
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


@contextlib.contextmanager
def build_recovery(tmp_path: Path, *, emulator_key: str = EMULATOR_KEY,
                   emulator_overrides: dict[str, Any] | None = None, **overrides: Any) -> Iterator[Recovery]:
    """The stack, with ``Settings`` overrides (also passed to the workers through their environment)
    and ``EmulatorSettings`` overrides."""
    client_redis = redis.Redis.from_url(REDIS_URL)
    client_redis.flushdb()
    var_dir = tmp_path / "var"
    var_dir.mkdir(parents=True)
    with pg_database("finetuner_test_recovery") as database_url, \
            serve_emulator(EmulatorSettings(**{"api_key": emulator_key, "time_scale": TIME_SCALE,
                                                **(emulator_overrides or {})})) as emulator:
        values: dict[str, Any] = {
            "environment": "test", "var_dir": var_dir, "database_url": database_url, "broker_url": REDIS_URL,
            "storage_dir": var_dir / "storage", "mount_emulator": False, "openai_api_key": None,
            "openai_base_url": None, "poll_interval_seconds": 0.3, "reconcile_interval_seconds": 0.5,
            "stuck_after_seconds": 2.0, **overrides,
        }
        settings = Settings(**values)
        env = worker_env(settings, emulator)
        env["FINETUNER_PROVIDER_TIMEOUT_SECONDS"] = "2"
        for name, value in overrides.items():
            raw = value.get_secret_value() if hasattr(value, "get_secret_value") else value
            env[f"FINETUNER_{name.upper()}"] = str(raw).lower() if isinstance(raw, bool) else str(raw)
        sessions = get_sessionmaker(database_url)
        with sessions() as session:
            tenant = create_tenant(session, f"recovery-{secrets.token_hex(3)}")
            _, key = create_api_key(session, tenant.id, name="test")
            session.commit()
        install_sender(make_celery(settings))
        stack: Recovery | None = None
        try:
            with TestClient(create_app(settings, send_tasks=False),
                            headers={"Authorization": f"Bearer {key}"}) as client:
                stack = Recovery(settings, emulator, sessions, client, var_dir, env, api_key=key)
                yield stack
        finally:
            for process in stack.workers if stack else []:
                Recovery.kill(process)
            dispatch.set_sender(None)
            client_redis.flushdb()
            client_redis.close()


@pytest.fixture
def recovery(tmp_path: Path) -> Iterator[Recovery]:
    with build_recovery(tmp_path) as stack:
        yield stack
