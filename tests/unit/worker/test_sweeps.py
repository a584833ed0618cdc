"""A 3x2 sweep on the emulator under ``max_parallel: 2``: never more than two runs between
``pending`` and a terminal state (asserted from the transitions), every run ranked."""

from __future__ import annotations

import io

from sqlalchemy import select

from core.catalog import ModelCatalog
from core.evaluation.runner import EvaluationRunner
from core.models import Dataset, Evaluation, Job, JobTransition, Sweep
from core.states import TERMINAL, JobStatus
from core.sweeps import advance, create_sweep, ranking
from tests.fixtures.evaluation import jsonl, pricer_rows
from tests.unit.worker.conftest import World
from tests.unit.worker.helpers import MODEL, wait_for


def _drive(world: World, sweep_id: str) -> Sweep:
    catalog = ModelCatalog.load(None)

    def finished() -> Sweep | None:
        with world.sessions() as session:
            advance(session, sweep_id, catalog=catalog, store=world.store)
            session.commit()
            pending = list(session.scalars(select(Job.id).where(Job.sweep_id == sweep_id,
                                                                Job.status == "pending")))
        for job_id in pending:
            world.pipeline.advance(job_id)
        world.syncer.poll()
        with world.sessions() as session:
            sweep = session.get(Sweep, sweep_id)
            return sweep if sweep is not None and sweep.status != "running" else None

    result: Sweep = wait_for(finished, timeout=120, interval=0.02, what=f"sweep {sweep_id} to end")
    return result


def _most_at_once(world: World, sweep_id: str) -> int:
    """Walk every transition of the sweep's runs in commit order, counting runs not yet terminal."""
    with world.sessions() as session:
        rows = session.execute(select(JobTransition.from_status, JobTransition.to_status).join(
            Job, Job.id == JobTransition.job_id).where(Job.sweep_id == sweep_id).order_by(JobTransition.id)).all()
    live = most = 0
    for from_status, to_status in rows:
        if from_status is None:
            live += 1
        elif JobStatus(to_status) in TERMINAL:
            live -= 1
        most = max(most, live)
    return most


def test_a_3x2_sweep_never_runs_more_than_max_parallel_and_ranks_every_run(world: World) -> None:
    training, validation = world.dataset(20, tag="sw"), world.dataset(12, tag="sv")
    with world.sessions() as session:
        sweep = create_sweep(session, world.tenant_id,
                             job={"training_dataset_id": training, "validation_dataset_id": validation,
                                  "model": MODEL, "suffix": "sweep"},
                             grid={"n_epochs": [1, 2, 3], "learning_rate_multiplier": [0.5, 2.0]},
                             evaluation=None, max_parallel=2, budget_usd=None, rank_by=None,
                             catalog=ModelCatalog.load(None), store=world.store, provider="openai")
        session.commit()
        sweep_id = sweep.id

    ended = _drive(world, sweep_id)

    assert ended.status == "succeeded"
    most = _most_at_once(world, sweep_id)
    print(f"sweep: at most {most} runs between pending and terminal at once (max_parallel 2), 6 runs")
    assert most == 2, "two at a time, never three"
    with world.sessions() as session:
        runs = ranking(session, session.get(Sweep, sweep_id))  # type: ignore[arg-type]
        jobs = session.scalars(select(Job).where(Job.sweep_id == sweep_id)).all()
    assert len(jobs) == 6 and all(j.status == "succeeded" for j in jobs)
    assert sorted((r["hyperparameters"]["n_epochs"], r["hyperparameters"]["learning_rate_multiplier"])
                  for r in runs) == [(e, lr) for e in (1, 2, 3) for lr in (0.5, 2.0)]
    assert [r["rank"] for r in runs] == [1, 2, 3, 4, 5, 6]
    values = [r["value"] for r in runs]
    assert values == sorted(values), "best (lowest final validation loss) first"
    assert {j.hyperparameters["n_epochs"] for j in jobs} == {1, 2, 3}


def test_a_sweep_with_an_evaluation_ranks_its_runs_by_the_evaluation_metric(world: World) -> None:
    rows = pricer_rows(80, seed=12)
    ids = []
    for part in (rows[:60], rows[60:]):
        blob = world.store.put_stream(io.BytesIO(jsonl(part)))
        with world.sessions() as session:
            dataset = Dataset(tenant_id=world.tenant_id, name="p.jsonl", sha256=blob.sha256, bytes=blob.size,
                              canonical_sha256=blob.sha256, canonical_bytes=blob.size, format="chat",
                              num_examples=len(part), status="valid", report={"errors": []})
            session.add(dataset)
            session.commit()
            ids.append(dataset.id)
    with world.sessions() as session:
        sweep = create_sweep(session, world.tenant_id, job={"training_dataset_id": ids[0], "model": MODEL},
                             grid={"n_epochs": [1, 2]}, evaluation={"dataset_id": ids[1], "task": "number",
                                                                    "max_examples": 8},
                             max_parallel=1, budget_usd=None, rank_by="rmse", catalog=ModelCatalog.load(None),
                             store=world.store, provider="openai")
        session.commit()
        sweep_id = sweep.id
    runner = EvaluationRunner(world.sessions, provider_for=lambda _name: world.provider)

    def finished() -> Sweep | None:
        with world.sessions() as session:
            advance(session, sweep_id, catalog=ModelCatalog.load(None), store=world.store)
            session.commit()
            pending = list(session.scalars(select(Job.id).where(Job.sweep_id == sweep_id, Job.status == "pending")))
            queued = list(session.scalars(select(Evaluation.id).where(Evaluation.status == "queued")))
        for job_id in pending:
            world.pipeline.advance(job_id)
        for evaluation_id in queued:
            runner.run(evaluation_id)
        world.syncer.poll()
        with world.sessions() as session:
            found = session.get(Sweep, sweep_id)
            return found if found is not None and found.status != "running" else None

    ended: Sweep = wait_for(finished, timeout=120, interval=0.02, what="the sweep to end")
    assert ended.status == "succeeded"
    with world.sessions() as session:
        runs = ranking(session, ended)
    assert [r["rank"] for r in runs] == [1, 2] and all(r["metric"] == "rmse" for r in runs)
    assert all(r["evaluation_id"] and r["value"] is not None for r in runs)
