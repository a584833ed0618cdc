"""The poll's cost: 250 active jobs among 1,000 finished ones at the provider, on PostgreSQL.

Counts the emulator's calls during one poll against DESIGN §2's bounds — list pages only until
past the oldest active job, a GET only for active jobs the pages did not show, events only for
running jobs and jobs whose status changed — and prints the naive figure (one GET + one events
call per active job) beside it.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from core.config import Settings
from core.db import get_sessionmaker
from core.models import Dataset, Job, Tenant
from core.providers.openai import OpenAIProvider
from core.sync import PAGE_SIZE, Syncer
from emulator import EmulatorSettings
from tests.emulator.server import RunningEmulator, serve_emulator
from tests.fixtures.api import pg_database

pytestmark = pytest.mark.integration

FINISHED, ACTIVE_QUEUED, ACTIVE_RUNNING = 1_000, 150, 100
ACTIVE = ACTIVE_QUEUED + ACTIVE_RUNNING
STRAGGLERS = 3  # active jobs the pages will not show: provider jobs far older than our rows say
LAGGING = 12  # our row still says validating_files; the provider has queued the job since
SPACING = dt.timedelta(minutes=2)


@pytest.fixture(scope="module")
def poll_emulator() -> Iterator[RunningEmulator]:
    with serve_emulator(EmulatorSettings(api_key="sk-emulator-poll-count")) as emu:
        yield emu


@pytest.fixture(scope="module")
def poll_db() -> Iterator[str]:
    with pg_database("finetuner_test_poll") as url:
        yield url


def _classify(path: str) -> str:
    parts = path.strip("/").split("/")
    if parts == ["fine_tuning", "jobs"]:
        return "list"
    if len(parts) == 3:
        return "get"
    return parts[3]  # events | checkpoints


def test_one_poll_costs_pages_to_the_oldest_active_job_plus_only_what_changed(
        poll_emulator: RunningEmulator, poll_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(20261123)
    total = FINISHED + ACTIVE
    # Creation order at the provider (oldest first). The oldest 200 are all finished, so a poll
    # that pages "until past the oldest active job" must not read the last pages.
    positions = list(range(total))
    active_positions = set(rng.sample(range(200 + STRAGGLERS, total), ACTIVE - STRAGGLERS)) | set(range(STRAGGLERS))
    running_positions = set(rng.sample(sorted(active_positions), ACTIVE_RUNNING))
    start = dt.datetime.now(dt.UTC) - SPACING * (total + 10)
    state = poll_emulator.state
    provider_ids: dict[int, str] = {}
    for position in positions:
        if position in active_positions:
            status = "running" if position in running_positions else "queued"
        else:
            status = rng.choice(["succeeded", "succeeded", "failed", "cancelled"])
        created = start + SPACING * position
        provider_ids[position] = state.seed_job(status=status, created_at=created.timestamp(), hold=True)

    sessions = get_sessionmaker(poll_db)
    with sessions() as session:
        tenant = Tenant(name="poll")
        session.add(tenant)
        session.flush()
        dataset = Dataset(tenant_id=tenant.id, name="d.jsonl", sha256="0" * 64, bytes=1, format="chat",
                          status="valid", report={})
        session.add(dataset)
        session.flush()
        queued_positions = sorted(active_positions - running_positions - set(range(STRAGGLERS)))
        lagging = set(rng.sample(queued_positions, LAGGING))
        rows = []
        for position in sorted(active_positions):
            ours_created = start + SPACING * position - dt.timedelta(seconds=1)
            if position < STRAGGLERS:  # adopted long after the provider created them
                ours_created = start + SPACING * (total - 5)
            status = "running" if position in running_positions else "queued"
            if position in lagging:
                status = "validating_files"
            rows.append({"tenant_id": tenant.id, "model": "gpt-4o-mini-2024-07-18",
                         "training_dataset_id": dataset.id, "status": status,
                         "provider_job_id": provider_ids[position], "created_at": ours_created,
                         "status_changed_at": ours_created, "updated_at": ours_created})
        session.execute(insert(Job), rows)
        session.commit()
    oldest_regular = min(p for p in active_positions if p >= STRAGGLERS)
    index_newest_first = total - 1 - oldest_regular
    pages_needed = index_newest_first // PAGE_SIZE + (2 if index_newest_first % PAGE_SIZE == PAGE_SIZE - 1 else 1)
    expected_event_calls = len(running_positions) + LAGGING  # seeded jobs have < 100 events: one page each

    provider = OpenAIProvider.from_settings(_settings(poll_emulator, tmp_path))
    syncer = Syncer(sessions, provider_for=lambda _name: provider, lock_dir=tmp_path / "locks")
    state.reset_calls()
    began = time.monotonic()
    (report,) = syncer.poll()
    elapsed = time.monotonic() - began
    calls = Counter(_classify(c.path) for c in state.calls if c.method == "GET")
    provider.close()

    naive = 2 * ACTIVE
    actual = sum(calls.values())
    with capsys.disabled():
        print(f"\n[poll] {ACTIVE} active among {total} provider jobs: {calls['list']} list + {calls['get']} get + "
              f"{calls['events']} events + {calls['checkpoints']} checkpoints = {actual} calls "
              f"(naive: {ACTIVE} get + {ACTIVE} events = {naive}); pages needed to pass the oldest active job: "
              f"{pages_needed}; {elapsed:.2f}s")
    assert calls["list"] == report.list_calls <= pages_needed, (calls, pages_needed)
    assert calls["list"] < -(-total // PAGE_SIZE), "the poll must not page through the old finished jobs"
    assert calls["get"] == report.get_calls == STRAGGLERS, calls
    assert calls["events"] == report.event_calls == expected_event_calls, (calls, expected_event_calls)
    assert calls["checkpoints"] == 0, "no job finished in this poll"
    assert report.status_changes == LAGGING
    assert actual < naive
    with sessions() as session:
        unsynced = session.scalars(select(Job.id).where(Job.last_synced_at.is_(None))).all()
    assert unsynced == [], "every active job was synced"


def _settings(emulator: RunningEmulator, tmp_path: Path) -> Settings:
    return Settings(environment="test", var_dir=tmp_path, openai_base_url=emulator.base_url,
                    openai_api_key=emulator.api_key)
