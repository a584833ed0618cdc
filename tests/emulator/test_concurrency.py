"""Concurrent readers see one history: stable event ids, exact ``after`` semantics, no duplicates."""

from __future__ import annotations

import threading

import openai

from tests.emulator.helpers import start_job, wait_for_status
from tests.emulator.server import RunningEmulator


def test_concurrent_pollers_see_stable_event_ids_while_a_job_runs(emu: RunningEmulator) -> None:
    client = emu.client()
    job = start_job(client, n_examples=40)
    seen: dict[str, tuple[int, str]] = {}
    conflicts: list[str] = []
    lock = threading.Lock()

    def poll() -> None:
        reader = emu.client()
        for _ in range(40):  # until the job ends, bounded
            for event in reader.fine_tuning.jobs.list_events(job.id, limit=100).data:
                with lock:
                    previous = seen.setdefault(event.id, (event.created_at, event.message))
                    if previous != (event.created_at, event.message):
                        conflicts.append(event.id)
            if reader.fine_tuning.jobs.retrieve(job.id).status == "succeeded":
                return

    threads = [threading.Thread(target=poll) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wait_for_status(client, job.id).status == "succeeded"
    final = list(client.fine_tuning.jobs.list_events(job.id, limit=100))
    assert not conflicts
    assert set(seen) <= {e.id for e in final}, "an event listed once keeps its id"
    steps = [e.data["step"] for e in final if e.type == "metrics"]  # type: ignore[index]
    assert sorted(steps) == list(range(1, 40 * 3 + 1)) and len(steps) == len(set(steps))


def test_after_returns_the_items_older_than_the_cursor(client: openai.OpenAI) -> None:
    job = wait_for_status(client, start_job(client, n_examples=10).id)
    everything = client.fine_tuning.jobs.list_events(job.id, limit=1000).data
    for cut in (0, 5, len(everything) - 2):
        page = client.fine_tuning.jobs.list_events(job.id, after=everything[cut].id, limit=3)
        assert [e.id for e in page.data] == [e.id for e in everything[cut + 1:cut + 4]]
        assert page.has_more == (cut + 4 < len(everything))
    last = client.fine_tuning.jobs.list_events(job.id, after=everything[-1].id)
    assert last.data == [] and last.has_more is False
