"""The polling pass's cost for Together jobs: Together's job list is one unpaged answer, so a pass
is one list call, plus events and metrics only for jobs running or whose status changed."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert

from core.config import Settings
from core.db import get_sessionmaker
from core.models import Dataset, Job, Tenant
from core.providers.together import TogetherProvider
from core.sync import Syncer
from emulator import EmulatorSettings, create_together_app
from tests.emulator.server import RunningEmulator, serve_emulator
from tests.fixtures.api import pg_database

pytestmark = pytest.mark.integration
LLAMA = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
QUEUED, RUNNING, FINISHED, LAGGING = 10, 5, 5, 3


@pytest.fixture
def together() -> Iterator[RunningEmulator]:
    with serve_emulator(EmulatorSettings(api_key="tg-sweep"), prefix="/together",
                        factory=create_together_app) as emu:
        yield emu


def _kind(path: str) -> str:
    parts = path.strip("/").split("/")
    return "list" if parts == ["v1", "fine-tunes"] else "get" if len(parts) == 3 else parts[3]


def test_one_pass_over_together_jobs_is_one_list_call_plus_events_and_metrics_for_what_moves(
        together: RunningEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = together.state
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    seeded = [(state.seed_job(model=LLAMA, status=status, hold=True,
                              created_at=(start + dt.timedelta(minutes=i)).timestamp()), status)
              for i, status in enumerate(["queued"] * QUEUED + ["running"] * RUNNING + ["succeeded"] * FINISHED)]
    with pg_database("finetuner_test_tg_sweep") as url:
        sessions = get_sessionmaker(url)
        with sessions() as session:
            tenant = Tenant(name="tg-sweep")
            session.add(tenant)
            session.flush()
            dataset = Dataset(tenant_id=tenant.id, name="d.jsonl", sha256="0" * 64, bytes=1, format="chat",
                              status="valid", report={})
            session.add(dataset)
            session.flush()
            rows = []
            for index, (provider_job_id, status) in enumerate(seeded[:QUEUED + RUNNING]):
                ours = "validating_files" if index < LAGGING else status  # Together has queued these since
                created = start + dt.timedelta(minutes=index) - dt.timedelta(seconds=1)
                rows.append({"tenant_id": tenant.id, "provider": "together", "model": LLAMA,
                             "training_dataset_id": dataset.id, "status": ours, "provider_job_id": provider_job_id,
                             "created_at": created, "status_changed_at": created, "updated_at": created})
            session.execute(insert(Job), rows)
            session.commit()
        settings = Settings(environment="test", var_dir=tmp_path, together_base_url=together.base_url,
                            together_api_key=together.api_key)
        provider = TogetherProvider.from_settings(settings)
        syncer = Syncer(sessions, provider_for=lambda _name: provider, lock_dir=tmp_path / "locks")
        state.reset_calls()

        (report,) = syncer.poll()

        calls = Counter(_kind(c.path) for c in state.calls if c.method == "GET")
        provider.close()
    active = QUEUED + RUNNING
    moving = RUNNING + LAGGING
    with capsys.disabled():
        print(f"\n[together pass] {active} active among {len(seeded)} Together jobs: {calls['list']} list + "
              f"{calls['get']} get + {calls['events']} events + {calls['metrics']} metrics = {sum(calls.values())} "
              f"calls (naive: {2 * active})")
    assert calls == {"list": 1, "events": moving, "metrics": moving}, calls
    assert report.list_calls == 1 and report.get_calls == 0 and report.event_calls == moving
    assert report.status_changes == LAGGING
