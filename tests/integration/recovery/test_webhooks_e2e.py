"""Client webhooks end to end: real worker, real broker, a receiver on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook as Verifier

from core.models import JobTransition
from tests.fixtures.receiver import Receiver
from tests.integration.recovery.conftest import Recovery, build_recovery, dataset_bytes


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Recovery]:
    with build_recovery(tmp_path, webhook_allow_loopback=True, webhook_retry_base_seconds=0.2,
                        webhook_timeout_seconds=2.0) as recovery:
        yield recovery


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for receiver in made:
        receiver.close()


def _receiver(receivers: list[Receiver]) -> Receiver:
    receiver = Receiver()
    receivers.append(receiver)
    return receiver


def _subscribe(stack: Recovery, receiver: Receiver, events: list[str]) -> tuple[str, str]:
    response = stack.client.post("/v1/webhooks", json={"url": receiver.url, "events": events})
    assert response.status_code == 201, response.text
    return response.json()["id"], response.json()["secret"]


def _wait_received(stack: Recovery, receiver: Receiver, predicate: object, *, timeout: float, what: str) -> None:
    stack.wait_for(lambda: predicate(receiver), timeout=timeout, what=what)  # type: ignore[operator]


def test_every_status_change_arrives_signed_and_deduplicable(stack: Recovery, receivers: list[Receiver]) -> None:
    receiver = _receiver(receivers)
    _, secret = _subscribe(stack, receiver, ["job.*"])
    stack.start_worker()
    job_id = stack.submit(stack.upload(dataset_bytes(1)))
    assert stack.wait_all_terminal([job_id], timeout=60) == {job_id: "succeeded"}
    with stack.sessions() as session:
        # Every transition row, the creation's ("job.pending") included: each one is announced.
        moves = session.scalars(select(JobTransition.to_status).where(
            JobTransition.job_id == job_id).order_by(JobTransition.id)).all()
    expected = {f"job.{status}" for status in moves}
    _wait_received(stack, receiver, lambda r: {json.loads(b)["type"] for _, b in r.received} >= expected,
                   timeout=30, what=f"every status change: {sorted(expected)}")
    by_id: dict[str, set[bytes]] = {}
    for headers, body in receiver.received:
        payload = Verifier(secret).verify(body, headers)  # raises on a bad signature
        assert payload["data"]["job_id"] == job_id
        by_id.setdefault(headers["webhook-id"], set()).add(body)
    types = [json.loads(b)["type"] for b in {b for bodies in by_id.values() for b in bodies}]
    assert sorted(types) == sorted(f"job.{s}" for s in moves), "one delivery per status change"
    assert all(len(bodies) == 1 for bodies in by_id.values()), "a retry repeats the same message under its id"


def test_a_receiver_that_fails_three_times_then_recovers_gets_the_event(stack: Recovery,
                                                                        receivers: list[Receiver]) -> None:
    receiver = _receiver(receivers)
    receiver.statuses = [500, 502, 503]
    hook_id, secret = _subscribe(stack, receiver, ["job.succeeded"])
    stack.start_worker()
    job_id = stack.submit(stack.upload(dataset_bytes(2)))
    assert stack.wait_all_terminal([job_id], timeout=60) == {job_id: "succeeded"}
    _wait_received(stack, receiver, lambda r: len(r.received) >= 4, timeout=30, what="the fourth attempt")
    assert len({h["webhook-id"] for h, _ in receiver.received}) == 1, "every attempt carries the same webhook-id"
    Verifier(secret).verify(receiver.received[-1][1], receiver.received[-1][0])
    stack.wait_for(lambda: stack.client.get(f"/v1/webhooks/{hook_id}/deliveries").json()["data"][0]["status"]
                   == "delivered", timeout=10, what="the delivery to be recorded as delivered")
    delivery = stack.client.get(f"/v1/webhooks/{hook_id}/deliveries").json()["data"][0]
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 502, 503, 200]
    assert all(a["latency_ms"] >= 0 for a in delivery["attempts"])


def test_a_slow_receiver_does_not_delay_another(stack: Recovery, receivers: list[Receiver]) -> None:
    slow, fast = _receiver(receivers), _receiver(receivers)
    slow.delay = 30.0  # really hangs; our per-attempt timeout (2 s here) cuts it off
    slow_id, _ = _subscribe(stack, slow, ["job.succeeded"])
    _subscribe(stack, fast, ["job.succeeded"])
    stack.start_worker()
    job_id = stack.submit(stack.upload(dataset_bytes(3)))
    assert stack.wait_all_terminal([job_id], timeout=60) == {job_id: "succeeded"}
    ended = time.monotonic()
    _wait_received(stack, fast, lambda r: len(r.received) >= 1, timeout=10, what="the fast receiver's event")
    assert fast.arrivals[0] - ended < 5.0, "the fast receiver waited on the slow one"
    # Tried too, in parallel: its attempt may start a moment after the fast one's (another pool process).
    stack.wait_for(lambda: bool(slow.arrivals), timeout=5, what="the slow receiver to be tried too")
    stack.wait_for(lambda: any(a["error"] and "timed out" in a["error"] for d in stack.client.get(
        f"/v1/webhooks/{slow_id}/deliveries").json()["data"] for a in d["attempts"]), timeout=15,
        what="the slow receiver's attempt to be recorded as timed out")
