"""Polling cost: one pass of our batched provider sync against per-job polling, on the emulator and PostgreSQL.

Scenario 1: 1,000 active jobs, 900 queued and 100 running, 10 of the queued already running at the
provider (they "move" in this pass). Scenario 2: 1,000 queued jobs, none moving. The peer is what
W&B's logger and per-job pollers do: one ``jobs.retrieve`` and one ``list_events`` per job (through
the official ``openai`` SDK, against the same emulator). Calls are counted by the emulator itself.
Each round starts from the same rows (our table is reset), so rounds are alike.
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from bench.common import SMOKE, Measured, interleave, load_average, rounds, summary, table, verdict

PAGE = 100
SPACING = dt.timedelta(seconds=30)


def _classify(path: str) -> str:
    parts = path.strip("/").split("/")
    return "list" if parts[-2:] == ["fine_tuning", "jobs"] else "get" if parts[-1].startswith("ftjob") else parts[-1]


class Scenario:
    """An emulator seeded with held provider jobs, and our rows for them in a throwaway database."""

    def __init__(self, name: str, *, queued: int, running: int, moved: int, database_url: str, emulator: Any,
                 scratch: Path) -> None:
        from core.config import Settings
        from core.db import get_sessionmaker
        from core.providers.openai import OpenAIProvider
        from core.sync import Syncer

        self.name, self.emulator, self.active = name, emulator, queued + running
        self.sessions = get_sessionmaker(database_url)
        start = dt.datetime.now(dt.UTC) - SPACING * (self.active + 10)
        self.rows: list[dict[str, Any]] = []
        self.provider_ids: list[str] = []
        self._seed_rows(start, running, moved)
        settings = Settings(environment="test", var_dir=scratch, openai_base_url=emulator.base_url,
                            openai_api_key=emulator.api_key)
        self.provider = OpenAIProvider.from_settings(settings)
        self.syncer = Syncer(self.sessions, provider_for=lambda _name: self.provider, lock_dir=scratch / "locks")
        self.client = emulator.client()

    def _seed_rows(self, start: dt.datetime, running: int, moved: int) -> None:
        from core.models import Dataset, Tenant

        with self.sessions() as session:
            tenant = Tenant(name=f"bench-{self.name}")
            session.add(tenant)
            session.flush()
            dataset = Dataset(tenant_id=tenant.id, name="d.jsonl", sha256="0" * 64, bytes=1, format="chat",
                              status="valid", report={})
            session.add(dataset)
            session.commit()
            tenant_id, dataset_id = tenant.id, dataset.id
        for index in range(self.active):
            ours = "running" if index < running else "queued"
            theirs = "running" if index < running + moved else ours
            created = start + SPACING * index
            self.provider_ids.append(self.emulator.state.seed_job(status=theirs, created_at=created.timestamp(),
                                                                  hold=True))
            self.rows.append({"tenant_id": tenant_id, "model": "gpt-4o-mini-2024-07-18",
                              "training_dataset_id": dataset_id, "status": ours,
                              "provider_job_id": self.provider_ids[-1], "created_at": created + dt.timedelta(seconds=1),
                              "status_changed_at": created, "updated_at": created})

    def reset(self) -> None:
        from core.models import Job

        with self.sessions() as session:
            session.execute(text("TRUNCATE jobs CASCADE"))
            session.execute(insert(Job), self.rows)
            session.commit()

    def _counted(self, work: Any) -> Measured:
        self.reset()
        self.emulator.state.reset_calls()
        started = time.perf_counter()
        work()
        seconds = time.perf_counter() - started
        calls = Counter(_classify(c.path) for c in self.emulator.state.calls)
        return Measured(seconds, 0.0, {"calls": sum(calls.values()), **calls})

    def ours(self) -> Measured:
        return self._counted(self.syncer.poll)

    def peer(self) -> Measured:
        def per_job() -> None:
            for provider_job_id in self.provider_ids:
                self.client.fine_tuning.jobs.retrieve(provider_job_id)
                self.client.fine_tuning.jobs.list_events(provider_job_id, limit=20)
        return self._counted(per_job)

    def close(self) -> None:
        self.provider.close()
        self.client.close()


def _report(scenario: Scenario, results: dict[str, list[Measured]], target_calls: int, target_ratio: float) -> None:
    ours, peer = results["ours (batched)"], results["peer (per job)"]
    rows = []
    for name, runs in results.items():
        low, median = summary([m.seconds for m in runs])
        calls = runs[-1].output
        detail = ", ".join(f"{calls.get(k, 0)} {k}" for k in ("list", "get", "events", "checkpoints")
                           if calls.get(k))
        rows.append([name, calls["calls"], detail, low, median])
    ratio = peer[-1].output["calls"] / max(1, ours[-1].output["calls"])
    ok = ours[-1].output["calls"] <= target_calls and ratio >= target_ratio
    faster = summary([m.seconds for m in peer])[1] / summary([m.seconds for m in ours])[1]
    print(table(f"{scenario.name}: calls {ratio:.1f}x fewer (target <= {target_calls} calls, >= {target_ratio:g}x: "
                f"{verdict(ok)}); pass {faster:.1f}x faster (medians)",
                ["run", "provider calls", "of which", "pass min s", "median s"], rows), flush=True)


def main() -> None:
    from emulator import EmulatorSettings
    from tests.emulator.server import serve_emulator
    from tests.fixtures.api import pg_database

    print(f"  {load_average()}", flush=True)
    scale = 10 if SMOKE else 1
    queued, running, moved = 900 // scale, 100 // scale, 10 // scale
    count = rounds(3)
    with tempfile.TemporaryDirectory(prefix="finetuner-bench-") as scratch, \
            pg_database("finetuner_bench_polling") as database_url:
        for name, shape in (
            (f"{queued + running:,} active ({queued} queued, {running} running, {moved} moving)",
             (queued, running, moved)),
            (f"{queued + running:,} queued, none moving", (queued + running, 0, 0)),
        ):
            with serve_emulator(EmulatorSettings(api_key="sk-emulator-bench")) as emulator:
                scenario = Scenario(name, queued=shape[0], running=shape[1], moved=shape[2],
                                    database_url=database_url, emulator=emulator, scratch=Path(scratch))
                try:
                    results = interleave({"ours (batched)": scenario.ours, "peer (per job)": scenario.peer}, count)
                finally:
                    scenario.close()
            active = shape[0] + shape[1]
            target = math.ceil(active / PAGE) + shape[1] + shape[2] + (0 if shape[1] else 2)
            _report(scenario, results, target, 15 if shape[1] else 150 / scale)
