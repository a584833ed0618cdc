"""Small SDK-driven helpers shared by the emulator's tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

import openai
from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent

from tests.emulator.data import chat_file

T = TypeVar("T")
TERMINAL = {"succeeded", "failed", "cancelled"}


def eventually(probe: Callable[[], T | None], timeout: float = 10.0, interval: float = 0.02,
               what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def wait_for_status(client: openai.OpenAI, job_id: str, statuses: Iterable[str] | str = frozenset(TERMINAL),
                    timeout: float = 10.0) -> FineTuningJob:
    wanted = {statuses} if isinstance(statuses, str) else set(statuses)

    def probe() -> FineTuningJob | None:
        job = client.fine_tuning.jobs.retrieve(job_id)
        return job if job.status in wanted else None

    return eventually(probe, timeout, what=f"job {job_id} to reach {sorted(wanted)}")


def metrics_data(events: Iterable[FineTuningJobEvent]) -> list[dict[str, Any]]:
    """The ``data`` of the metrics events among ``events``, in the order given."""
    return [cast(dict[str, Any], e.data) for e in events if e.type == "metrics"]


def all_events(client: openai.OpenAI, job_id: str) -> list[FineTuningJobEvent]:
    """Every event of a job, newest first, through the SDK's auto-paging iterator."""
    return list(client.fine_tuning.jobs.list_events(job_id, limit=100))


def upload(client: openai.OpenAI, content: bytes, name: str = "train.jsonl") -> str:
    return client.files.create(file=(name, content), purpose="fine-tune").id


def start_job(client: openai.OpenAI, n_examples: int = 20, **kwargs: object) -> FineTuningJob:
    training = upload(client, chat_file(n_examples))
    params: dict[str, object] = {"model": "gpt-4o-mini", "training_file": training}
    params.update(kwargs)
    return client.fine_tuning.jobs.create(**params)  # type: ignore[arg-type]
