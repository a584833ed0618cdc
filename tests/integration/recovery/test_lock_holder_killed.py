"""A worker SIGKILLed while it holds the poll, reconcile and beat locks: the locks die with it.

The worker (with ``-B``, so it also leads beat) is made to hold its periodic locks by an ACCESS
EXCLUSIVE lock on ``jobs`` taken from the test: the poll and the reconciler take their Redis lock,
then block on their first query. Killed there, it renews nothing; a second worker (standing by as
beat) must take over the leadership and run a real poll and reconcile within two periods of each
(plus the leadership's lapse), where a lock TTL of the task time limit kept them skipped for 15 min.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text

from tests.integration.recovery.conftest import REDIS_URL, Recovery, build_recovery
from worker.locks import KEY_PREFIX

POLL_SECONDS = 1.0
RECONCILE_SECONDS = 2.0
LEADER_TTL = 1.0


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Recovery]:
    with build_recovery(tmp_path, poll_interval_seconds=POLL_SECONDS, reconcile_interval_seconds=RECONCILE_SECONDS,
                        beat_leader_ttl_seconds=LEADER_TTL) as recovery:
        yield recovery


def _ran(recovery: Recovery, name: str, task: str) -> int:
    """How many runs of ``task`` did their work (did not answer "skipped") in that worker's log."""
    log = (recovery.var_dir / f"{name}.log").read_text(errors="replace")
    return len([line for line in re.findall(rf"Task {re.escape(task)}\[[0-9a-f-]+\] succeeded[^\n]*", log)
                if "skipped" not in line])


def test_locks_of_a_sigkilled_holder_lapse_and_the_next_poll_and_reconcile_run_within_two_periods(
        stack: Recovery) -> None:
    keys = redis.Redis.from_url(REDIS_URL)
    holder = stack.start_worker(name="holder")
    engine = create_engine(stack.settings.database_url)
    with engine.connect() as blocker:
        blocker.execute(text("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE"))
        stack.wait_for(lambda: all(keys.exists(KEY_PREFIX + n) for n in ("poll", "reconcile", "beat")),
                       timeout=30, what="the holder to take the poll, reconcile and beat locks")
        stack.start_worker(name="standby")  # its beat stands by; its polls are skipped while the holder lives
        time.sleep(2 * max(POLL_SECONDS, RECONCILE_SECONDS))
        assert _ran(stack, "standby", "finetuner.poll") == 0, "the holder's poll lock should still be held"
        assert _ran(stack, "standby", "finetuner.reconcile") == 0, "the holder's reconcile lock should still be held"
        Recovery.kill(holder)
        killed = time.monotonic()
        blocker.rollback()  # the table is free again; only the dead holder's Redis locks remain
    engine.dispose()

    first: dict[str, float] = {}
    deadline = killed + 60
    while len(first) < 2 and time.monotonic() < deadline:
        for task in ("finetuner.poll", "finetuner.reconcile"):
            if task not in first and _ran(stack, "standby", task):
                first[task] = time.monotonic() - killed
        time.sleep(0.05)
    print(f"after SIGKILL of the holder: first poll {first.get('finetuner.poll')}s, "
          f"first reconcile {first.get('finetuner.reconcile')}s (periods {POLL_SECONDS:g}s / "
          f"{RECONCILE_SECONDS:g}s, beat leadership {LEADER_TTL:g}s)")
    assert "finetuner.poll" in first, f"no poll ran within 60 s of the kill:\n{stack.log_tail('standby')}"
    assert "finetuner.reconcile" in first, f"no reconcile ran within 60 s of the kill:\n{stack.log_tail('standby')}"
    slack = LEADER_TTL + 1.0  # the beat leadership lapses too, and Celery's log line lags a little
    assert first["finetuner.poll"] <= 2 * POLL_SECONDS + slack, first
    assert first["finetuner.reconcile"] <= 2 * RECONCILE_SECONDS + slack, first
