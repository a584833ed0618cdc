"""``GET /v1/jobs/{id}/metrics?max_points=500`` on a job with 100,000 points: points returned per
series and latency, against the full JSON pages a client would otherwise fetch (100 pages of 1,000).

Runs the API in-process on a SQLite file (``make bench``); the figures are this machine's, so run it
alone. Also checks what the tests check: each series keeps its minimum, maximum and last point.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, insert

from api.app import create_app
from core.config import Settings
from core.db import get_sessionmaker
from core.models import Base, Dataset, Job, JobMetric
from core.tenants import create_api_key, create_tenant

POINTS = 100_000
MAX_POINTS = 500
REPEATS = 5


def _arrange(folder: Path) -> tuple[TestClient, str, np.ndarray, np.ndarray]:
    url = f"sqlite:///{folder / 'bench.db'}"
    Base.metadata.create_all(create_engine(url))
    settings = Settings(environment="test", var_dir=folder / "var", database_url=url, broker_url="memory://",
                        storage_dir=folder / "storage", mount_emulator=False, openai_api_key=None)
    app = create_app(settings, send_tasks=False)
    rng = np.random.default_rng(3)
    train = 2.5 * np.exp(-np.arange(POINTS) / 20_000) + rng.normal(0, 0.05, POINTS) + 0.3
    valid = train + 0.1 + rng.normal(0, 0.02, POINTS)
    with get_sessionmaker(url)() as session:
        tenant = create_tenant(session, "bench")
        _, key = create_api_key(session, tenant.id, name="bench")
        dataset = Dataset(tenant_id=tenant.id, name="d", sha256="0" * 64, bytes=1, format="chat", status="valid")
        session.add(dataset)
        session.flush()
        job = Job(tenant_id=tenant.id, model="gpt-4o-mini", training_dataset_id=dataset.id)
        session.add(job)
        session.flush()
        session.execute(insert(JobMetric), [{"job_id": job.id, "tenant_id": tenant.id, "step": s + 1,
                                             "train_loss": float(train[s]), "valid_loss": float(valid[s]),
                                             "data": {}} for s in range(POINTS)])
        session.commit()
        job_id = job.id
    return TestClient(app, headers={"Authorization": f"Bearer {key}"}), job_id, train, valid


def _timed(call: object) -> float:
    start = time.perf_counter()
    call()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as scratch:
        client, job_id, train, valid = _arrange(Path(scratch))
        path = f"/v1/jobs/{job_id}/metrics"
        body = client.get(path, params={"max_points": MAX_POINTS}).json()
        for name, values in (("train_loss", train), ("valid_loss", valid)):
            series = body["series"][name]
            kept = series["values"]
            print(f"{name}: {series['total_points']} points -> {len(kept)} returned "
                  f"(min kept: {min(kept) == float(values.min())}, max kept: {max(kept) == float(values.max())}, "
                  f"last kept: {series['steps'][-1] == POINTS})")
        sampled = [_timed(lambda: client.get(path, params={"max_points": MAX_POINTS})) for _ in range(REPEATS)]

        def pages() -> None:
            after = None
            while True:
                page = client.get(path, params={"limit": 1000, **({"after": after} if after else {})}).json()
                if not page["has_more"]:
                    return
                after = page["data"][-1]["id"]

        full = [_timed(pages) for _ in range(2)]
        csv = [_timed(lambda: client.get(path, params={"format": "csv"})) for _ in range(2)]
        print(f"max_points={MAX_POINTS}: median {statistics.median(sampled) * 1000:.0f} ms")
        print(f"every point as JSON pages of 1,000 (the peer: what a client does without max_points): "
              f"median {statistics.median(full) * 1000:.0f} ms")
        print(f"every point as CSV (one streamed response): median {statistics.median(csv) * 1000:.0f} ms")
