"""The overfitting signal: validation loss climbing (or stalled) while training loss keeps falling.

Checked whenever a running job gains loss points. Provider validation losses are noisy (a batch
each), so both curves are smoothed with a trailing mean before they are compared, and a rise must
also lift validation clearly above its best so far: a healthy curve's wobble at its floor must not
raise the alarm. Fired once per job: an event ``overfitting_suspected`` with the step, a flag on
the job, and a ``job.overfitting_suspected`` webhook, all in the sync's transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import webhooks
from core.models import Job, JobEvent, JobMetric, utcnow

log = logging.getLogger(__name__)

EVENT_ID = "finetuner:overfitting_suspected"  # our own event in the job's log, stored once
EVENT_TYPE = "overfitting_suspected"


@dataclass(frozen=True)
class Rule:
    """``patience``: consecutive rises of smoothed validation loss; ``window``: points in the mean;
    ``min_rise``: how far above its best validation must be; ``stall_points``: smoothed points with
    no new best while training fell by ``stall_train_drop`` (the "stalled" case)."""

    patience: int = 3
    window: int = 5
    min_rise: float = 0.15
    train_tolerance: float = 0.02
    stall_points: int = 0  # 0: only a rise counts
    stall_train_drop: float = 0.2


@dataclass(frozen=True)
class Point:
    step: int
    train_loss: float | None
    valid_loss: float


def _trailing_means(values: Sequence[float], window: int) -> list[float]:
    return [sum(values[i - window + 1:i + 1]) / window for i in range(window - 1, len(values))]


def first_suspect(points: Sequence[Point], rule: Rule = Rule()) -> dict[str, Any] | None:
    """The first point at which the rule holds (with what it saw), or ``None``."""
    ordered = sorted((p for p in points if p.train_loss is not None), key=lambda p: p.step)
    # A long curve is smoothed over more points: the best of many noisy means is biased low, and a
    # wider mean keeps a healthy plateau from looking like a climb.
    window = max(rule.window, len(ordered) // 8)
    if len(ordered) < window + rule.patience:
        return None
    valid = _trailing_means([p.valid_loss for p in ordered], window)
    train = _trailing_means([p.train_loss or 0.0 for p in ordered], window)
    steps = [p.step for p in ordered][window - 1:]
    best_at = 0
    for i in range(1, len(valid)):
        if valid[i] < valid[best_at]:
            best_at = i
        if i < rule.patience:
            continue
        rising = all(valid[j] > valid[j - 1] for j in range(i - rule.patience + 1, i + 1))
        clear = valid[i] >= (1 + rule.min_rise) * valid[best_at]
        train_ok = train[i] <= train[i - rule.patience] * (1 + rule.train_tolerance)
        if rising and clear and train_ok:
            return {"step": steps[i], "reason": "validation loss rose", "smoothed_valid_loss": round(valid[i], 5),
                    "best_valid_loss": round(valid[best_at], 5), "best_step": steps[best_at],
                    "smoothed_train_loss": round(train[i], 5), "patience": rule.patience, "window": window}
        stalled = rule.stall_points and i - best_at >= rule.stall_points
        if stalled and train[i] <= train[best_at] * (1 - rule.stall_train_drop):
            return {"step": steps[i], "reason": "validation loss stalled", "smoothed_valid_loss": round(valid[i], 5),
                    "best_valid_loss": round(valid[best_at], 5), "best_step": steps[best_at],
                    "smoothed_train_loss": round(train[i], 5), "patience": rule.patience, "window": window}
    return None


def check(session: Session, job: Job, rule: Rule = Rule()) -> bool:
    """Fire the signal for ``job`` if its stored curve calls for it and it has not fired yet."""
    if job.overfitting_step is not None:
        return False
    rows = session.execute(select(JobMetric.step, JobMetric.train_loss, JobMetric.valid_loss).where(
        JobMetric.job_id == job.id, JobMetric.valid_loss.is_not(None)).order_by(JobMetric.step)).all()
    found = first_suspect([Point(r.step, r.train_loss, r.valid_loss) for r in rows], rule)
    if found is None:
        return False
    now = utcnow()
    job.overfitting_step = int(found["step"])
    message = (f"Overfitting suspected at step {found['step']}: {found['reason']} (smoothed validation loss "
               f"{found['smoothed_valid_loss']} vs best {found['best_valid_loss']} at step {found['best_step']}) "
               f"while training loss kept falling")
    session.add(JobEvent(job_id=job.id, tenant_id=job.tenant_id, provider_event_id=EVENT_ID, level="warn",
                         type=EVENT_TYPE, message=message, data=found, created_at=now, recorded_at=now))
    session.flush()
    webhooks.announce(session, job.tenant_id, webhooks.OVERFITTING_EVENT, {
        "job_id": job.id, "status": job.status, "step": found["step"], "reason": found["reason"],
        "at": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "details": found,
    })
    log.info("job %s: %s", job.id, message)
    return True
