"""Beat: what runs periodically, and the guarantee that only one beat sends it.

Every periodic task is a short "check for work" task that carries ``expires`` equal to its period
(never below a few seconds of broker latency):
a message that waited longer than that is dropped (the next one is already on its way), so a
backlog never turns into a burst. Two beats may run (a second ``worker -B``, a rolling deploy):
:class:`LeaderScheduler` sends only while it holds the ``beat`` lock, renewed every tick. The
tasks also take their own lock, so a slow poll never overlaps the next one either.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.beat import Scheduler

from core.config import Settings, get_settings
from core.tasknames import TaskName
from worker.locks import NamedLock, named_lock

log = logging.getLogger(__name__)

# A message younger than this is never expired, whatever the period: the embedded broker polls once
# a second, so a sub-second expiry would drop most messages before a worker could see them.
MIN_EXPIRES_SECONDS = 3.0
# Periodic tasks with a fixed period (webhook delivery, and evaluations' as they come): {entry: (task, seconds)}.
EXTRA_PERIODIC: dict[str, tuple[TaskName, float]] = {
    "deliver-due-webhooks": (TaskName.DELIVER_DUE_WEBHOOKS, 10.0),
}


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """The beat schedule (the scheduler leaves out entries whose task is not registered)."""
    entries: dict[str, tuple[TaskName, float]] = {
        "poll-active-jobs": (TaskName.POLL, settings.poll_interval_seconds),
        "reconcile-stuck-jobs": (TaskName.RECONCILE, settings.reconcile_interval_seconds),
        "reconcile-evaluations": (TaskName.RECONCILE_EVALUATIONS, settings.reconcile_interval_seconds),
        "reconcile-sweeps": (TaskName.RECONCILE_SWEEPS, settings.reconcile_interval_seconds),
        **EXTRA_PERIODIC,
    }
    return {
        name: {"task": str(task), "schedule": period, "options": {"expires": max(period, MIN_EXPIRES_SECONDS)}}
        for name, (task, period) in entries.items()
    }


class LeaderScheduler(Scheduler):  # type: ignore[misc]  # celery ships no types
    """An in-memory schedule (periodic tasks are idempotent checks; nothing to persist) that only
    the holder of the ``beat`` lock acts on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._ttl = get_settings().beat_leader_ttl_seconds
        self._leader: NamedLock = named_lock(get_settings(), "beat", ttl=self._ttl)
        self._was_leader = False
        super().__init__(*args, **kwargs)

    def setup_schedule(self) -> None:
        """Drop entries whose task is not registered here, loudly: every name in ``core.tasknames`` is
        registered by ``worker.celery_app``'s includes (a test checks it), so a miss is a bug."""
        super().setup_schedule()
        known = set(self.app.tasks)
        for name in [name for name, entry in self.schedule.items() if entry.task not in known]:
            log.error("beat: no task %s registered; entry %s left out", self.schedule[name].task, name)
            del self.schedule[name]

    def tick(self, *args: Any, **kwargs: Any) -> float:
        leader = self._leader.acquire()
        if leader != self._was_leader:
            role = "this beat sends the periodic tasks" if leader else "another beat is active; standing by"
            log.info("beat: %s", role)
            self._was_leader = leader
        if not leader:
            return min(float(self.max_interval), self._ttl / 3)
        wait: float = super().tick(*args, **kwargs)
        return min(wait, self._ttl / 3)

    def close(self) -> None:
        self._leader.release()
        super().close()
