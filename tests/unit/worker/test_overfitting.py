"""The overfitting signal on the emulator's curves: it fires on a curve built to overfit (an
emulator setting), once, with an event, a flag and a webhook — and not on a healthy curve."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from core.models import Job, JobEvent, Webhook, WebhookDelivery
from core.overfitting import EVENT_TYPE, Point, first_suspect
from emulator.formulas import LossCurve
from tests.unit.worker.conftest import World
from tests.unit.worker.helpers import wait_for


@pytest.fixture
def overfitting_world(world: World) -> Iterator[World]:
    world.emulator.state.settings.overfit_after = 0.4
    yield world
    world.emulator.state.settings.overfit_after = None


def _subscribe(world: World) -> None:
    with world.sessions() as session:
        session.add(Webhook(tenant_id=world.tenant_id, url="https://93.184.215.14/h",
                            events=["job.overfitting_suspected"], secret_encrypted="x"))
        session.commit()


def _run(world: World, n: int = 40) -> Job:
    job_id = world.job(world.dataset(n, tag="t"), validation_dataset_id=world.dataset(12, tag="v"),
                       hyperparameters={"n_epochs": 3})
    world.pipeline.advance(job_id)

    def finished() -> Job | None:
        world.syncer.poll()
        with world.sessions() as session:
            job = session.get(Job, job_id)
            return job if job is not None and job.status in ("succeeded", "failed") else None

    job: Job = wait_for(finished, timeout=60, interval=0.02, what=f"job {job_id} to finish")
    assert job.status == "succeeded", job.error
    return job


def _events(world: World, job_id: str) -> list[JobEvent]:
    with world.sessions() as session:
        return list(session.scalars(select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.type == EVENT_TYPE)))


def test_an_overfitting_curve_raises_the_signal_once_with_event_flag_and_webhook(overfitting_world: World) -> None:
    _subscribe(overfitting_world)
    job = _run(overfitting_world)

    events = _events(overfitting_world, job.id)
    assert job.overfitting_step is not None, "the job is flagged"
    assert len(events) == 1 and events[0].data and events[0].data["step"] == job.overfitting_step
    assert events[0].level == "warn" and "Overfitting suspected" in events[0].message
    with overfitting_world.sessions() as session:
        deliveries = session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.event_type == "job.overfitting_suspected")).all()
    assert [d.payload["job_id"] for d in deliveries] == [job.id]
    assert deliveries[0].payload["step"] == job.overfitting_step


def test_a_healthy_curve_raises_nothing(world: World) -> None:
    job = _run(world)
    assert job.overfitting_step is None and _events(world, job.id) == []


@pytest.mark.parametrize("steps", [30, 120, 400])
def test_the_rule_separates_the_emulators_curves_over_many_seeds(steps: int) -> None:
    def points(curve: LossCurve) -> list[Point]:
        metrics = [curve.metrics(s, with_validation=True, epoch_end=False) for s in range(1, steps + 1)]
        return [Point(m.step, m.train_loss, m.valid_loss or 0.0) for m in metrics]

    healthy = sum(first_suspect(points(LossCurve(seed, steps, 1.8))) is not None for seed in range(100))
    overfit = sum(first_suspect(points(LossCurve(seed, steps, 1.8, overfit_after=0.4))) is not None
                  for seed in range(100))
    assert (healthy, overfit) == (0, 100), f"{healthy} healthy curves flagged, {overfit} of 100 overfitting ones"
