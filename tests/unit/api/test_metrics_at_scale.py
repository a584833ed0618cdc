"""``/v1/jobs/{id}/metrics`` at scale: 1,000-point pages, ``max_points`` downsampling, ``format=csv``."""

from __future__ import annotations

import csv
import io
import itertools

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlalchemy.orm import Session

from core.downsample import downsample
from core.models import JobMetric
from tests.fixtures.api import TenantKey, chat_jsonl, create_job, upload_dataset


def _curve(n: int) -> np.ndarray:
    """A decreasing loss with noise and one spike in the middle (what a chart must not hide)."""
    rng = np.random.default_rng(7)
    values = 2.5 * np.exp(-np.arange(n) / (n / 5)) + rng.normal(0, 0.05, n) + 0.3
    values[n // 2 + 17] = 9.5
    return values


def _job_with_points(client: TestClient, session: Session, tenant: TenantKey, n: int, *, valid_every: int = 10
                     ) -> tuple[str, np.ndarray]:
    dataset = upload_dataset(client, chat_jsonl(12))
    job_id = str(create_job(client, dataset["id"])["id"])
    train = _curve(n)
    rows = [{"job_id": job_id, "tenant_id": tenant.tenant_id, "step": step + 1, "train_loss": float(train[step]),
             "valid_loss": float(train[step] + 0.1) if step % valid_every == 0 else None,
             "data": {"step": step + 1, "total_steps": n}} for step in range(n)]
    session.execute(insert(JobMetric), rows)
    session.commit()
    return job_id, train


def test_a_page_of_events_transitions_or_metrics_may_hold_1000_but_not_1001(auth_client: TestClient) -> None:
    job_id = create_job(auth_client, upload_dataset(auth_client, chat_jsonl(12))["id"])["id"]
    for child in ("events", "transitions", "metrics"):
        assert auth_client.get(f"/v1/jobs/{job_id}/{child}", params={"limit": 1000}).status_code == 200, child
        refused = auth_client.get(f"/v1/jobs/{job_id}/{child}", params={"limit": 1001})
        assert refused.status_code == 400, (child, refused.text)
        assert "limit" in refused.text


def test_other_lists_still_stop_at_100(auth_client: TestClient) -> None:
    for path in ("/v1/jobs", "/v1/datasets"):
        assert auth_client.get(path, params={"limit": 101}).status_code == 400, path


def test_max_points_keeps_each_series_minimum_maximum_and_last_point_in_at_most_n(
        auth_client: TestClient, db_session: Session, tenant: TenantKey) -> None:
    job_id, train = _job_with_points(auth_client, db_session, tenant, 20_000)

    response = auth_client.get(f"/v1/jobs/{job_id}/metrics", params={"max_points": 500})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "job.metric_series" and body["total_points"] == 20_000
    assert set(body["series"]) == {"train_loss", "valid_loss"}, "only series that have values"
    series = body["series"]["train_loss"]
    assert series["total_points"] == 20_000
    assert len(series["steps"]) == len(series["values"]) <= 500
    assert max(series["values"]) == pytest.approx(float(train.max())), "the spike (the maximum) was dropped"
    assert min(series["values"]) == pytest.approx(float(train.min()))
    assert series["steps"][-1] == 20_000 and series["values"][-1] == pytest.approx(float(train[-1]))
    assert series["steps"] == sorted(series["steps"]), "steps out of order"
    valid = body["series"]["valid_loss"]
    assert valid["total_points"] == 2_000 and len(valid["steps"]) <= 500
    assert valid["steps"][-1] == 19_991, "the validation series' own last point"


def test_max_points_larger_than_the_curve_returns_every_point(auth_client: TestClient, db_session: Session,
                                                              tenant: TenantKey) -> None:
    job_id, train = _job_with_points(auth_client, db_session, tenant, 50)
    series = auth_client.get(f"/v1/jobs/{job_id}/metrics", params={"max_points": 500}).json()["series"]["train_loss"]
    assert series["steps"] == list(range(1, 51))
    assert series["values"] == pytest.approx(train.tolist())


@pytest.mark.parametrize("params", [{"max_points": 3}, {"max_points": "x"}, {"format": "xml"},
                                    {"format": "csv", "max_points": 10}, {"max_points": 10, "after": "jmp_1"}])
def test_bad_metrics_parameters_are_400_naming_them(auth_client: TestClient, params: dict[str, str | int]) -> None:
    job_id = create_job(auth_client, upload_dataset(auth_client, chat_jsonl(12))["id"])["id"]
    response = auth_client.get(f"/v1/jobs/{job_id}/metrics", params=params)
    assert response.status_code == 400, response.text
    named = "after" if "after" in params else "max_points" if "max_points" in params else "format"
    assert named in response.text


def test_csv_streams_every_point_with_a_header(auth_client: TestClient, db_session: Session,
                                               tenant: TenantKey) -> None:
    job_id, train = _job_with_points(auth_client, db_session, tenant, 12_345)

    response = auth_client.get(f"/v1/jobs/{job_id}/metrics", params={"format": "csv"})

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 12_345, "every point, across the server's batches"
    assert [int(r["step"]) for r in rows] == list(range(1, 12_346))
    assert float(rows[-1]["train_loss"]) == float(train[-1]), "values round-trip exactly"
    assert rows[1]["valid_loss"] == "" and rows[10]["valid_loss"] != ""


def test_metrics_of_another_tenants_job_are_404_in_every_form(auth_client: TestClient,
                                                             other_client: TestClient) -> None:
    job_id = create_job(auth_client, upload_dataset(auth_client, chat_jsonl(12))["id"])["id"]
    for params in ({}, {"max_points": 100}, {"format": "csv"}):
        assert other_client.get(f"/v1/jobs/{job_id}/metrics", params=params).status_code == 404, params


def test_downsampling_100000_points_to_500_keeps_min_max_and_last() -> None:
    values = _curve(100_000)
    steps, kept = downsample(list(range(1, 100_001)), values.tolist(), 500)
    assert len(kept) <= 500
    assert max(kept) == float(values.max()) and min(kept) == float(values.min())
    assert steps[-1] == 100_000 and kept[-1] == float(values[-1]) and steps[0] == 1
    # shape: points spread over the whole curve (each of 249 buckets keeps two), not just the extremes
    bucket = 100_000 / 249
    widest_gap = max(b - a for a, b in itertools.pairwise(steps))
    assert widest_gap <= 2 * bucket, f"a gap of {widest_gap} steps: part of the curve has no point"
