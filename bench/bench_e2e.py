"""End to end: 1,000 jobs (10 training steps each) submitted over HTTP, until every one is terminal.

The stack as production runs it, each part its own process: the API (uvicorn), one Celery worker
with beat (``worker -B``, its default pool of one process per core), the emulator (``python -m
emulator``, fast time scale), PostgreSQL and Redis. Redis comes from ``FINETUNER_BENCH_REDIS_URL``
(default ``redis://127.0.0.1:6379/14``; the database is flushed before and after). Reported: time
until all are terminal, jobs/s, rows written, peak PSS and CPU seconds of each process, and lost
or duplicated jobs (both must be 0: the benchmark fails otherwise). No peer runs here: the figure
is absolute (target < 120 s on 2 cores).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy import func, select, text

from bench.common import REPO, SMOKE, PeakMemory, descendants, load_average, table, verdict
from bench.server import cpu_seconds, free_port, serve_api, service_env

JOBS = 1_000
STEPS = 10  # 10 examples, batch size 1, one epoch
TARGET_SECONDS = 120.0
TIME_SCALE = "0.001"
EMULATOR_KEY = "sk-emulator-bench"
TABLES = ("jobs", "job_transitions", "job_events", "job_metrics", "checkpoints", "provider_files", "webhook_deliveries")


def _dataset() -> bytes:
    rows = [{"messages": [{"role": "system", "content": "You classify parity."},
                          {"role": "user", "content": f"Is {i} even?"},
                          {"role": "assistant", "content": "yes" if i % 2 == 0 else "no"}]} for i in range(STEPS)]
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


@contextlib.contextmanager
def _process(argv: list[str], env: dict[str, str], log: Path, ready: bytes, name: str
             ) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while ready not in log.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def _tree_cpu(pid: int) -> float:
    total = 0.0
    for child in descendants(pid):
        with contextlib.suppress(OSError):
            total += cpu_seconds(child)
    return total


def _provider_jobs(base_url: str) -> list[dict[str, object]]:
    """Every job the emulator holds (paged 100 at a time, as any client would)."""
    found: list[dict[str, object]] = []
    after = None
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {EMULATOR_KEY}"}, timeout=30) as client:
        while True:
            body = client.get("/fine_tuning/jobs", params={"limit": 100, **({"after": after} if after else {})}).json()
            found.extend(body["data"])
            if not body["has_more"]:
                return found
            after = body["data"][-1]["id"]


def main() -> None:
    import redis

    from core.db import get_sessionmaker
    from core.models import Job
    from core.tenants import create_api_key, create_tenant
    from tests.fixtures.api import pg_database

    print(f"  {load_average()}", flush=True)
    jobs = 10 if SMOKE else JOBS
    redis_url = os.environ.get("FINETUNER_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    broker = redis.Redis.from_url(redis_url)
    broker.flushdb()
    terminal = ("succeeded", "failed", "cancelled")
    with tempfile.TemporaryDirectory(prefix="finetuner-bench-") as scratch, \
            pg_database("finetuner_bench_e2e") as database_url:
        var = Path(scratch)
        sessions = get_sessionmaker(database_url)
        with sessions() as session:
            tenant = create_tenant(session, "bench-e2e")
            _, key = create_api_key(session, tenant.id, name="bench")
            session.commit()
        emulator_port = free_port()
        emulator_url = f"http://127.0.0.1:{emulator_port}/v1"
        env = service_env(database_url, var, FINETUNER_BROKER_URL=redis_url, OPENAI_BASE_URL=emulator_url,
                          OPENAI_API_KEY=EMULATOR_KEY, FINETUNER_SWEEP_INTERVAL_SECONDS="1",
                          FINETUNER_POLL_INTERVAL_SECONDS="1", FINETUNER_RECONCILE_INTERVAL_SECONDS="5",
                          FINETUNER_PROVIDER_BACKOFF_INITIAL_SECONDS="0.05")
        emulator_argv = [sys.executable, "-m", "emulator", "--port", str(emulator_port), "--time-scale", TIME_SCALE,
                         "--api-key", EMULATOR_KEY, "--log-level", "warning"]
        worker_argv = [sys.executable, "-m", "celery", "-A", "worker.celery_app:celery_app", "worker", "-B",
                       "--loglevel=INFO", "-n", "bench@%h", "--without-gossip", "--without-mingle",
                       "--without-heartbeat"]
        with _process(emulator_argv, env, var / "emulator.log", b"OpenAI emulator on", "the emulator") as emulator, \
                serve_api(database_url, var, env, send_tasks=True) as (base, api), \
                _process(worker_argv, env, var / "worker.log", b" ready.", "the worker") as worker, \
                PeakMemory(api.pid) as api_memory, PeakMemory(worker.pid) as worker_memory, \
                PeakMemory(emulator.pid) as emulator_memory, \
                httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
            time.sleep(2)  # the worker's pool forks and connects
            cpu_before = {name: _tree_cpu(p.pid) for name, p in (("api", api), ("worker", worker),
                                                                   ("emulator", emulator))}
            started = time.perf_counter()
            upload = client.post("/v1/datasets", files={"file": ("parity.jsonl", _dataset(), "application/jsonl")})
            upload.raise_for_status()
            dataset_id = upload.json()["id"]

            def submit(index: int) -> str:
                response = client.post("/v1/jobs", json={
                    "training_dataset_id": dataset_id, "model": "gpt-4o-mini-2024-07-18",
                    "hyperparameters": {"n_epochs": 1, "batch_size": 1}, "suffix": f"b{index}"},
                    headers={"Idempotency-Key": f"bench-{index}"})
                response.raise_for_status()
                return str(response.json()["id"])

            with ThreadPoolExecutor(max_workers=8) as pool:
                job_ids = list(pool.map(submit, range(jobs)))
            submitted = time.perf_counter() - started
            deadline = time.monotonic() + (120 if SMOKE else 600)
            done = 0
            while time.monotonic() < deadline:
                with sessions() as session:
                    done = session.scalar(select(func.count()).select_from(Job).where(Job.status.in_(terminal))) or 0
                if done >= jobs:
                    break
                time.sleep(0.5)
            elapsed = time.perf_counter() - started
            cpu = {name: _tree_cpu(p.pid) - cpu_before[name] for name, p in (("api", api), ("worker", worker),
                                                                              ("emulator", emulator))}
            provider_jobs = _provider_jobs(emulator_url)
        with sessions() as session:
            rows = {name: session.scalar(text(f"SELECT count(*) FROM {name}")) for name in TABLES}
            statuses: dict[str, int] = {str(status): count for status, count in session.execute(
                select(Job.status, func.count()).group_by(Job.status)).tuples().all()}
        tags = [str(dict(j.get("metadata") or {}).get("finetuner_job_id")) for j in provider_jobs]  # type: ignore[call-overload]
    broker.flushdb()
    lost = jobs - sum(statuses.get(s, 0) for s in terminal)
    duplicated = len(tags) - len(set(tags)) + (len(set(job_ids)) != len(job_ids))
    print(table(f"{jobs:,} jobs of {STEPS} training steps each over HTTP: all terminal in {elapsed:.1f} s "
                f"({jobs / elapsed:.1f} jobs/s; submitting took {submitted:.1f} s); target < {TARGET_SECONDS:g} s: "
                f"{verdict(elapsed < TARGET_SECONDS and lost == 0 and duplicated == 0)}",
                ["process", "peak PSS MB", "CPU s", "CPU share of wall"],
                [[name, memory.peak_mb, cpu[name], f"{cpu[name] / elapsed:.0%}"]
                 for name, memory in (("api", api_memory), ("worker", worker_memory),
                                      ("emulator", emulator_memory))]), flush=True)
    print(f"  statuses {statuses}; provider jobs {len(provider_jobs)}; lost {lost}, duplicated {duplicated}")
    print(f"  rows written: {', '.join(f'{name} {count:,}' for name, count in rows.items())}", flush=True)
    if lost or duplicated:
        raise SystemExit(f"{lost} jobs lost, {duplicated} duplicated")
