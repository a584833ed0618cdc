"""The one Celery app, configured on purpose (every setting below is a decision, not a default).

- The database is the truth and a message only a nudge (DESIGN §2), so the broker may lose or
  repeat messages: tasks are idempotent and the reconciler re-sends what went missing.
- ``task_acks_late`` + ``task_reject_on_worker_lost``: a task whose worker dies mid-way is
  delivered again rather than silently dropped; ``worker_prefetch_multiplier = 1`` keeps a worker
  from hoarding messages another one could run.
- Redis redelivers an unacknowledged message after its visibility timeout, and an ETA message is
  unacknowledged while it waits: so no countdown we use may come near it (``max_retry_delay``).
- JSON only; no result backend (nothing ever waits on a task's result; rows are the result).
- Embedded default: kombu's SQLAlchemy transport on a SQLite file, no service to run.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any, cast

from celery import Celery
from celery.signals import setup_logging, task_postrun, task_prerun, task_retry, worker_init, worker_process_init

from core import dispatch
from core.config import Settings, get_settings
from core.tasknames import TASK_MODULES, TaskName
from worker.locks import is_redis
from worker.schedule import beat_schedule

log = logging.getLogger(__name__)

QUEUE = "finetuner"


def max_retry_delay(settings: Settings) -> float:
    """The longest countdown any task may use: well inside the visibility timeout, and at most 5 min."""
    return float(min(300, settings.broker_visibility_timeout_seconds // 4))


def broker_transport_options(settings: Settings) -> dict[str, Any]:
    if is_redis(settings.broker_url):
        return {"visibility_timeout": settings.broker_visibility_timeout_seconds, "socket_timeout": 10,
                "socket_connect_timeout": 10}
    if settings.broker_url.startswith("sqla+sqlite"):
        # Passed to create_engine: wait on SQLite's lock instead of failing while another process writes.
        return {"connect_args": {"timeout": 30}}
    return {}


def make_celery(settings: Settings) -> Celery:
    app = Celery("finetuner", broker=settings.broker_url, include=list(TASK_MODULES))
    hard_limit = settings.task_time_limit_seconds
    app.conf.update(
        broker_transport_options=broker_transport_options(settings),
        broker_connection_retry_on_startup=True,
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        result_backend=None,
        task_ignore_result=True,
        result_expires=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=settings.worker_concurrency,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_max_tasks_per_child=1000,
        task_time_limit=hard_limit,
        task_soft_time_limit=max(5, hard_limit - 30),
        beat_schedule=beat_schedule(settings),
        beat_scheduler="worker.schedule:LeaderScheduler",
        beat_max_loop_interval=5,
        timezone="UTC",
        enable_utc=True,
    )
    return app


celery_app = make_celery(get_settings())


def task(name: TaskName, **options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``celery_app.task`` under a name from ``core.tasknames`` (messages name tasks, so names are API)."""
    return cast(Callable[[Callable[..., Any]], Any], celery_app.task(name=str(name), **options))


def _connect(signal: Any) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return cast(Callable[[Callable[..., None]], Callable[..., None]], signal.connect)


def install_sender(app: Celery | None = None) -> None:
    """Make ``core.dispatch`` send deferred tasks through Celery (after each commit)."""
    target = app or celery_app

    def send(task_name: str, kwargs: dict[str, Any]) -> None:
        target.send_task(task_name, kwargs=kwargs, queue=QUEUE)

    dispatch.set_sender(send)


@_connect(worker_init)
def _on_worker_init(**_: Any) -> None:
    install_sender()
    import core.providers.openai  # noqa: F401  # the SDK takes a second to import: once, before forking
    from core.providers.redaction import install_log_redaction

    install_log_redaction()
    for name in ("httpx", "httpx2"):  # one INFO line per provider call drowns the worker's own log
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger(name).level))


@_connect(worker_process_init)
def _on_worker_process_init(**_: Any) -> None:
    """Forked children must not share the parent's database connections."""
    from core.db import reset_engines
    from worker import runtime

    reset_engines()
    runtime.reset()
    install_sender()


_started: dict[str, tuple[float, Any]] = {}  # task id -> (perf_counter at start, log context token)

if get_settings().log_format == "json":
    @_connect(setup_logging)
    def _json_logs(loglevel: Any = None, **_: Any) -> None:
        """With a receiver here Celery leaves logging alone: ours writes JSON lines with the task's job_id."""
        from core.logs import configure

        configure("json", loglevel or logging.INFO)


@_connect(task_prerun)
def _on_task_start(task_id: str = "", kwargs: dict[str, Any] | None = None, **_: Any) -> None:
    """Every log line of a task about a job carries that job's id (``core.logs``)."""
    import time

    from core.logs import bind_now

    job_id = (kwargs or {}).get("job_id")
    _started[task_id] = (time.perf_counter(), bind_now(job_id=job_id if isinstance(job_id, str) else None))


@_connect(task_retry)
def _on_task_retry(request: Any = None, **_: Any) -> None:
    from core import telemetry

    name = getattr(request, "task", None) or "unknown"
    telemetry.TASKS.labels(name, "retry").inc()


@_connect(task_postrun)
def _on_task_end(task_id: str = "", task: Any = None, state: str | None = None, **_: Any) -> None:
    """Counts and times every task run: the operator's view of what the worker spends its time on."""
    import time

    from core import telemetry
    from core.logs import unbind

    started = _started.pop(task_id, None)
    name = getattr(task, "name", None) or "unknown"
    if started is not None:
        telemetry.TASK_SECONDS.labels(name).observe(time.perf_counter() - started[0])
        with contextlib.suppress(ValueError):  # reset in another context than it was set in
            unbind(started[1])
    if state != "RETRY":
        telemetry.TASKS.labels(name, "ok" if state == "SUCCESS" else "error").inc()


__all__ = ["QUEUE", "celery_app", "install_sender", "make_celery", "max_retry_delay", "task"]
