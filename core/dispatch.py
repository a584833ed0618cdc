"""Side effects after the commit, never before (the polar pattern).

Code that changes rows says which task should follow with :func:`defer`; the messages are sent
only once the session's transaction commits, so a rolled-back request leaves no orphan task.
The queue is only a nudge: a message lost here is found again by the reconciler.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

Sender = Callable[[str, dict[str, Any]], None]
_KEY = "finetuner.deferred"
_sender: Sender | None = None


def set_sender(sender: Sender | None) -> None:
    """Install the function that actually enqueues (the worker package sets Celery's)."""
    global _sender
    _sender = sender


def defer(session: Session, task_name: str, **kwargs: Any) -> None:
    session.info.setdefault(_KEY, []).append((task_name, kwargs))


@event.listens_for(Session, "after_commit")
def _send_deferred(session: Session) -> None:
    pending: list[tuple[str, dict[str, Any]]] = session.info.pop(_KEY, [])
    if not pending:
        return
    if _sender is None:
        log.debug("no task sender installed; %d deferred task(s) left to the reconciler", len(pending))
        return
    for task_name, kwargs in pending:
        try:
            _sender(task_name, kwargs)
        except Exception:  # the row is committed; the reconciler will pick it up
            log.exception("could not enqueue %s; the reconciler will retry it", task_name)


@event.listens_for(Session, "after_rollback")
def _drop_deferred(session: Session) -> None:
    session.info.pop(_KEY, None)
