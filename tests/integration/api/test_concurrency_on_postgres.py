"""Races settled by PostgreSQL, through a real uvicorn server: duplicates by constraint, not by luck."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from core.models import Dataset, Job, JobTransition
from tests.fixtures.api import TenantKey, chat_jsonl

pytestmark = pytest.mark.integration


def _all_at_once(n: int, call: Callable[[httpx.Client], httpx.Response]) -> list[httpx.Response]:
    """``n`` threads, each with its own connection, released together by a barrier."""
    barrier = threading.Barrier(n)

    def one(_: int) -> httpx.Response:
        with httpx.Client(timeout=60) as client:
            barrier.wait(timeout=30)
            return call(client)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def _count(app: FastAPI, model: Any, tenant: TenantKey) -> int:
    with app.state.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(model.tenant_id == tenant.tenant_id))
                   or 0)


def test_concurrent_creates_with_one_idempotency_key_make_one_job(
    api_app: FastAPI, live_api: str, tenant: TenantKey,
) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "race-1"}
    upload = httpx.post(f"{live_api}/v1/datasets", headers=tenant.headers,
                        files={"file": ("t.jsonl", chat_jsonl(), "application/jsonl")})
    assert upload.status_code == 201, upload.text
    body = {"training_dataset_id": upload.json()["id"], "model": "gpt-4o-mini", "suffix": "race"}
    responses = _all_at_once(50, lambda c: c.post(f"{live_api}/v1/jobs", json=body, headers=headers))
    assert {r.status_code for r in responses} == {202}, [r.text for r in responses if r.status_code != 202][:3]
    assert len({r.text for r in responses}) == 1, "every caller gets the same answer"
    assert _count(api_app, Job, tenant) == 1
    assert _count(api_app, JobTransition, tenant) == 1, "one 'created' transition, not one per caller"


def test_concurrent_uploads_with_one_idempotency_key_make_one_dataset(
    api_app: FastAPI, live_api: str, tenant: TenantKey,
) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "race-upload"}
    content = chat_jsonl(50)
    responses = _all_at_once(10, lambda c: c.post(f"{live_api}/v1/datasets", headers=headers,
                                                  files={"file": ("t.jsonl", content, "application/jsonl")}))
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses if r.status_code != 201][:3]
    assert len({r.json()["id"] for r in responses}) == 1
    assert _count(api_app, Dataset, tenant) == 1


def test_concurrent_cancels_move_the_job_once(live_api: str, tenant: TenantKey) -> None:
    upload = httpx.post(f"{live_api}/v1/datasets", headers=tenant.headers,
                        files={"file": ("t.jsonl", chat_jsonl(), "application/jsonl")})
    job = httpx.post(f"{live_api}/v1/jobs", headers=tenant.headers,
                     json={"training_dataset_id": upload.json()["id"], "model": "gpt-4o-mini"}).json()
    responses = _all_at_once(10, lambda c: c.post(f"{live_api}/v1/jobs/{job['id']}/cancel", headers=tenant.headers))
    assert {r.status_code for r in responses} == {202}
    transitions = httpx.get(f"{live_api}/v1/jobs/{job['id']}/transitions", headers=tenant.headers).json()["data"]
    assert [t["to_status"] for t in transitions] == ["pending", "cancelling"], "row lock: one move, not ten"
