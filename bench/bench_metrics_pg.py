"""Metrics at scale: one job with 100,000 loss points on PostgreSQL, ingested and read back over HTTP.

Ingestion goes through the sync's own code (``core.sync.store_events``) in pages of 1,000 events,
one transaction each, as a polling pass stores a running job's new events. Reading uses
``GET /v1/jobs/{id}/metrics?max_points=500`` (a downsampled curve) when the API offers it; until
then the whole curve is paged (``limit=1000``), and the time to read all of it is reported. No peer
runs here: no other tool stores a curve for a self-hosted job; the targets are absolute.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import SMOKE, load_average, table, verdict
from bench.server import serve_api

POINTS = 100_000
PAGE = 100  # the API's page limit for a job's metrics
INGEST_PAGE = 1_000  # events per page as the provider lists them
MAX_POINTS = 500
P50_TARGET_MS, P99_TARGET_MS = 50.0, 100.0


def ingest(database_url: str, points: int) -> tuple[str, str, float]:
    """A running job, then ``points`` metrics events stored page by page; returns (key, job id, seconds)."""
    from core.db import get_sessionmaker
    from core.models import Dataset, Job
    from core.providers.base import ProviderEvent
    from core.sync import store_events
    from core.tenants import create_api_key, create_tenant

    sessions = get_sessionmaker(database_url)
    with sessions() as session:
        tenant = create_tenant(session, "bench-metrics")
        _, key = create_api_key(session, tenant.id, name="bench")
        dataset = Dataset(tenant_id=tenant.id, name="d.jsonl", sha256="0" * 64, bytes=1, format="chat",
                          status="valid", report={})
        session.add(dataset)
        session.flush()
        job = Job(tenant_id=tenant.id, model="gpt-4o-mini-2024-07-18", training_dataset_id=dataset.id,
                  status="running", provider_job_id="ftjob-bench-metrics")
        session.add(job)
        session.commit()
        job_id = job.id
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=points)
    started = time.perf_counter()
    for first in range(1, points + 1, INGEST_PAGE):
        events = [ProviderEvent(id=f"ftevent-{step}", created_at=start + dt.timedelta(seconds=step), level="info",
                                type="metrics", message=f"Step {step}/{points}",
                                data={"step": step, "train_loss": 2.0 / (1 + step / 1000),
                                      "train_mean_token_accuracy": 1 - 1 / (2 + step / 1000),
                                      "valid_loss": 2.1 / (1 + step / 1000) if step % 10 == 0 else None})
                  for step in range(first, min(points, first + INGEST_PAGE - 1) + 1)]
        with sessions() as session:
            row = session.get(Job, job_id)
            assert row is not None
            store_events(session, row, events)
            session.commit()
    return key, job_id, time.perf_counter() - started


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    from tests.fixtures.api import pg_database

    print(f"  {load_average()}", flush=True)
    points = 2_000 if SMOKE else int(os.environ.get("FINETUNER_BENCH_METRICS_POINTS", POINTS))
    reads = 5 if SMOKE else 50
    with tempfile.TemporaryDirectory(prefix="finetuner-bench-") as scratch, \
            pg_database("finetuner_bench_metrics") as database_url:
        key, job_id, seconds = ingest(database_url, points)
        print(f"  ingested {points:,} points in {seconds:.1f} s ({points / seconds:,.0f} points/s, "
              f"pages of {INGEST_PAGE})", flush=True)
        with serve_api(database_url, Path(scratch)) as (base, _server), \
                httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
            spec = client.get("/openapi.json").json()
            parameters = spec["paths"]["/v1/jobs/{job_id}/metrics"]["get"].get("parameters", [])
            downsampled = any(p["name"] == "max_points" for p in parameters)
            url = f"/v1/jobs/{job_id}/metrics"

            pages: list[float] = []

            def read() -> int:
                if downsampled:
                    response = client.get(url, params={"max_points": MAX_POINTS})
                    response.raise_for_status()
                    series = response.json()["series"]  # each metric on its own, downsampled
                    return max(len(one["steps"]) for one in series.values())  # points of the longest series
                total, after = 0, None
                while True:
                    began = time.perf_counter()
                    response = client.get(url, params={"limit": PAGE, **({"after": after} if after else {})})
                    pages.append(1000 * (time.perf_counter() - began))
                    response.raise_for_status()
                    body = response.json()
                    total += len(body["data"])
                    if not body["has_more"]:
                        return total
                    after = body["data"][-1]["id"]

            read()  # warm-up
            pages.clear()
            latencies, got = [], 0
            for _ in range(reads if downsampled else max(1, reads // 10)):
                began = time.perf_counter()
                got = read()
                latencies.append(1000 * (time.perf_counter() - began))
    p50, p99 = statistics.median(latencies), _percentile(latencies, 0.99)
    rows = [["the whole curve" + (f" (?max_points={MAX_POINTS})" if downsampled else f" (paged, limit={PAGE})"),
             len(latencies), got, p50, p99, min(latencies)]]
    if pages:
        rows.append([f"one page of {PAGE}", len(pages), PAGE, statistics.median(pages), _percentile(pages, 0.99),
                     min(pages)])
    how = "downsampled" if downsampled else (
        "paged (no max_points in this API yet; the target is for a downsampled read)")
    ok = p50 < P50_TARGET_MS and p99 < P99_TARGET_MS
    print(table(f"one job, {points:,} points, {how}; target p50 < {P50_TARGET_MS:g} ms, p99 < {P99_TARGET_MS:g} ms "
                f"for the curve: {verdict(ok)}",
                ["read", "reads", "points returned", "p50 ms", "p99 ms", "min ms"], rows), flush=True)
