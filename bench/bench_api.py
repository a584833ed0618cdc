"""API: ``GET /v1/jobs/{id}`` on PostgreSQL with 10,000 jobs and their events, under ``wrk``, against a bare endpoint.

The peer is the same server (uvicorn, one process, same app and middleware) answering constant
JSON at ``/bench/constant``: what is left between the two is our work (key check, tenant wall,
one row read, serialisation). ``wrk`` (Debian: ``apt-get install wrk``) runs on loopback with a
bounded duration; its own CPU time is reported so the figure is known to measure the API and not
the client. A second run holds 200 requests/s (``wrk``'s ``delay()``) for the latency target.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bench.common import SMOKE, Measured, interleave, load_average, rounds, summary, table, verdict
from bench.server import cpu_seconds, serve_api

JOBS = 10_000
EVENTS_PER_JOB = 10
CONNECTIONS = 32
PACED_RATE = 200
PACED_CONNECTIONS = 10
THROUGHPUT_TARGET = 0.5
P99_TARGET_MS = 50.0


def seed(database_url: str, jobs: int) -> tuple[str, list[str]]:
    """A tenant, its API key, and ``jobs`` jobs with ``EVENTS_PER_JOB`` events each; returns (key, job ids)."""
    from core.db import get_sessionmaker
    from core.ids import new_id
    from core.models import Dataset, Job, JobEvent
    from core.tenants import create_api_key, create_tenant

    sessions = get_sessionmaker(database_url)
    with sessions() as session:
        tenant = create_tenant(session, "bench-api")
        _, key = create_api_key(session, tenant.id, name="bench")
        dataset = Dataset(tenant_id=tenant.id, name="d.jsonl", sha256="0" * 64, bytes=1, format="chat",
                          status="valid", report={})
        session.add(dataset)
        session.flush()
        now = dt.datetime.now(dt.UTC)
        ids = [new_id("job") for _ in range(jobs)]
        statuses = ("running", "succeeded", "queued", "failed")
        session.execute(insert(Job), [
            {"id": job_id, "tenant_id": tenant.id, "model": "gpt-4o-mini-2024-07-18",
             "training_dataset_id": dataset.id, "status": statuses[index % 4],
             "provider_job_id": f"ftjob-{index:08d}", "hyperparameters": {"n_epochs": "auto"},
             "user_metadata": {"team": "bench", "run": str(index)}, "trained_tokens": 1000 + index,
             "created_at": now, "status_changed_at": now, "updated_at": now}
            for index, job_id in enumerate(ids)])
        for start in range(0, jobs, 1000):
            session.execute(insert(JobEvent), [
                {"job_id": job_id, "tenant_id": tenant.id, "provider_event_id": f"ftevent-{start + i}-{n}",
                 "level": "info", "type": "metrics" if n % 2 else "message", "message": f"Step {n}/100",
                 "data": {"step": n, "train_loss": 1.0 / (n + 1)} if n % 2 else None, "created_at": now}
                for i, job_id in enumerate(ids[start:start + 1000]) for n in range(EVENTS_PER_JOB)])
        session.commit()
    return key, ids


def _lua(path: Path, key: str, ids: list[str] | None, delay_ms: float | None) -> Path:
    lines = [f'local headers = {{["Authorization"] = "Bearer {key}"}}']
    if ids is not None:
        lines.append("local ids = {" + ",".join(f'"{i}"' for i in ids) + "}")
        lines.append('request = function() return wrk.format("GET", "/v1/jobs/" .. ids[math.random(#ids)], headers) '
                     "end")
    else:
        lines.append('request = function() return wrk.format("GET", "/bench/constant", headers) end')
    if delay_ms is not None:
        lines.append(f"delay = function() return {delay_ms:.1f} end")
    path.write_text("\n".join(lines) + "\n")
    return path


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", value)
    if match is None:
        raise RuntimeError(f"not a wrk duration: {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(base: str, script: Path, seconds: float, connections: int, server_pid: int) -> Measured:
    server_cpu = cpu_seconds(server_pid)
    started = time.perf_counter()
    process = subprocess.Popen(["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", str(script),
                                base], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed:\n{out}")
    figures: dict[str, Any] = {**parse_wrk(out), "client_cpu": (usage.ru_utime + usage.ru_stime) / wall,
                               "server_cpu": (cpu_seconds(server_pid) - server_cpu) / wall}
    return Measured(wall, 0.0, figures)


def parse_wrk(out: str) -> dict[str, float]:
    """Throughput and the 50th / 99th latency percentiles (ms) from ``wrk --latency``; error responses fail."""
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"wrk saw {errors.group(1)} error responses:\n{out}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50, p99 = re.search(r"\s50%\s+(\S+)", out), re.search(r"\s99%\s+(\S+)", out)
    if rps is None or p50 is None or p99 is None:
        raise RuntimeError(f"wrk printed no figures:\n{out}")
    return {"rps": float(rps.group(1)), "p50": _ms(p50.group(1)), "p99": _ms(p99.group(1))}


def _smoke_without_wrk(base: str, key: str, ids: list[str]) -> None:
    import httpx

    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
        for path in (f"/v1/jobs/{ids[0]}", f"/v1/jobs/{ids[-1]}", "/bench/constant"):
            client.get(path).raise_for_status()
    print("  wrk is not installed: served the seeded jobs and the bare endpoint once each (smoke only)")


def main() -> None:
    from tests.fixtures.api import pg_database

    have_wrk = shutil.which("wrk") is not None
    if not have_wrk and not SMOKE:
        raise SystemExit("wrk is not installed: apt-get install wrk (Debian; `make bench` installs it as root)")
    print(f"  {load_average()}", flush=True)
    jobs = 500 if SMOKE else JOBS
    seconds = 1.0 if SMOKE else 10.0
    count = rounds(3)
    with tempfile.TemporaryDirectory(prefix="finetuner-bench-") as scratch, \
            pg_database("finetuner_bench_api") as database_url:
        started = time.perf_counter()
        key, ids = seed(database_url, jobs)
        print(f"  seeded {jobs:,} jobs and {jobs * EVENTS_PER_JOB:,} events in {time.perf_counter() - started:.1f} s",
              flush=True)
        var = Path(scratch)
        with serve_api(database_url, var) as (base, server):
            if not have_wrk:  # the smoke test where wrk is not installed (CI): the harness, without the load
                _smoke_without_wrk(base, key, ids)
                return
            job_script = _lua(var / "job.lua", key, ids, None)
            bare_script = _lua(var / "bare.lua", key, None, None)
            paced_delay = 1000.0 * PACED_CONNECTIONS / PACED_RATE
            paced_script = _lua(var / "paced.lua", key, ids, paced_delay)
            run_wrk(base, job_script, 1.0, CONNECTIONS, server.pid)  # warm-up: connections, caches
            results = interleave({
                "GET /v1/jobs/{id}": lambda: run_wrk(base, job_script, seconds, CONNECTIONS, server.pid),
                "bare constant JSON": lambda: run_wrk(base, bare_script, seconds, CONNECTIONS, server.pid),
            }, count)
            paced = run_wrk(base, paced_script, seconds, PACED_CONNECTIONS, server.pid)
    rows = []
    medians: dict[str, float] = {}
    for name, runs in results.items():
        rps_min, rps_median = summary([m.output["rps"] for m in runs])
        medians[name] = rps_median
        rows.append([name, rps_min, rps_median, summary([m.output["p50"] for m in runs])[1],
                     summary([m.output["p99"] for m in runs])[1],
                     f"{100 * summary([m.output['server_cpu'] for m in runs])[1]:.0f} %",
                     f"{100 * summary([m.output['client_cpu'] for m in runs])[1]:.0f} %"])
    ratio = medians["GET /v1/jobs/{id}"] / medians["bare constant JSON"]
    print(table(f"{jobs:,} jobs, {jobs * EVENTS_PER_JOB:,} events on PostgreSQL; wrk -t1 -c{CONNECTIONS} "
                f"{seconds:g} s x {count} interleaved rounds; throughput {ratio:.0%} of bare (target >= 50 %: "
                f"{verdict(ratio >= THROUGHPUT_TARGET)})",
                ["endpoint", "req/s min", "req/s median", "p50 ms", "p99 ms", "server CPU", "wrk CPU"], rows),
          flush=True)
    p99 = paced.output["p99"]
    print(f"  paced at {PACED_RATE} req/s ({PACED_CONNECTIONS} connections): {paced.output['rps']:.0f} req/s, "
          f"p50 {paced.output['p50']:.1f} ms, p99 {p99:.1f} ms (target < {P99_TARGET_MS:g} ms: "
          f"{verdict(p99 < P99_TARGET_MS)}); server CPU {paced.output['server_cpu']:.0%}, "
          f"wrk CPU {paced.output['client_cpu']:.0%}", flush=True)
