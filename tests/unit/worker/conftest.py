"""Worker tests on one machine: a SQLite file, the real emulator on a loopback port, no broker.

``core.pipeline`` and ``core.sync`` are called directly (the Celery tasks only wrap them); the
provider is the real OpenAI implementation pointed at the emulator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from core import dispatch
from core.config import Settings
from core.pipeline import Pipeline
from core.providers.base import Provider
from core.providers.openai import OpenAIProvider
from core.storage import BlobStore
from core.sync import Syncer
from emulator import EmulatorSettings
from tests.emulator.server import RunningEmulator, serve_emulator
from tests.fixtures.db import sqlite_sessions
from tests.unit.worker.helpers import SentTasks, make_dataset, make_job, make_tenant


@dataclass
class World:
    """Everything a worker test arranges and inspects."""

    sessions: sessionmaker[Session]
    emulator: RunningEmulator
    provider: Provider
    pipeline: Pipeline
    syncer: Syncer
    store: BlobStore
    sent: SentTasks
    tenant_id: str

    def dataset(self, n: int = 12, **kwargs: object) -> str:
        with self.sessions() as session:
            dataset_id = make_dataset(session, self.store, self.tenant_id, n=n, **kwargs)  # type: ignore[arg-type]
            session.commit()
            return dataset_id

    def job(self, dataset_id: str, **kwargs: object) -> str:
        with self.sessions() as session:
            job_id = make_job(session, self.tenant_id, dataset_id, **kwargs)
            session.commit()
            return job_id


@pytest.fixture(scope="module")
def worker_emulator() -> Iterator[RunningEmulator]:
    with serve_emulator(EmulatorSettings(api_key="sk-emulator-worker-unit")) as emu:
        yield emu


@pytest.fixture(scope="module")
def slow_emulator() -> Iterator[RunningEmulator]:
    """Jobs take seconds here (validating 0.5 s, queued 1 s, running a few s): room to act mid-run."""
    with serve_emulator(EmulatorSettings(api_key="sk-emulator-worker-slow", time_scale=0.05)) as emu:
        yield emu


@pytest.fixture
def world(tmp_path: Path, worker_emulator: RunningEmulator) -> Iterator[World]:
    yield from _world(tmp_path, worker_emulator)


@pytest.fixture
def slow_world(tmp_path: Path, slow_emulator: RunningEmulator) -> Iterator[World]:
    yield from _world(tmp_path, slow_emulator)


def _world(tmp_path: Path, worker_emulator: RunningEmulator) -> Iterator[World]:
    worker_emulator.state.clear_faults()
    url = f"sqlite:///{tmp_path / 'worker.db'}"
    with sqlite_sessions(tmp_path / "worker.db") as sessions:
        settings = Settings(environment="test", var_dir=tmp_path / "var", database_url=url, broker_url="memory://",
                            openai_base_url=worker_emulator.base_url, openai_api_key=worker_emulator.api_key,
                            provider_backoff_initial_seconds=0.01, provider_backoff_max_seconds=0.05,
                            provider_max_attempts=2)
        provider = OpenAIProvider.from_settings(settings)
        store = BlobStore(tmp_path / "storage")
        lock_dir = tmp_path / "var" / "locks"
        provider_for: Callable[[str], Provider] = lambda _name: provider  # noqa: E731
        sent: SentTasks = []
        dispatch.set_sender(lambda name, kwargs: sent.append((name, dict(kwargs))))
        with sessions() as session:
            tenant_id = make_tenant(session)
            session.commit()
        yield World(
            sessions=sessions, emulator=worker_emulator, provider=provider,
            pipeline=Pipeline(sessions, provider_for=provider_for, store=store, lock_dir=lock_dir, max_attempts=3,
                              max_retry_delay=5.0),
            syncer=Syncer(sessions, provider_for=provider_for, lock_dir=lock_dir),
            store=store, sent=sent, tenant_id=tenant_id,
        )
        dispatch.set_sender(None)
        provider.close()
