"""The worker side of an evaluation: claim it, ask every pending item with bounded concurrency,
write each answer as it arrives, finish with metrics recomputed from the stored items.

Resumable by construction: an item is written (``pending`` → ``done`` | ``failed``) in its own
short transaction the moment its answer arrives, so a worker killed mid-run loses only the calls
in flight, and the next run asks only what is still pending. A run holds a lease on the row
(renewed with every answer, keyed by the attempt number that claimed it): a second delivery of
the task finds the lease held and leaves; after a crash the lease lapses and the reconciler
re-sends the task. Provider calls go through ``core.providers`` (its retries, rate-limit waits,
error mapping); a call that still fails marks that item with the error, not the run.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from core.claims import skip_locked
from core.evaluation import metrics as m
from core.evaluation.pricing import cost_usd
from core.evaluation.service import finish, transition
from core.evaluation.states import ACTIVE, EvaluationStatus
from core.models import Evaluation, EvaluationItem, utcnow
from core.providers.base import ChatResult, Provider
from core.providers.errors import ProviderError

log = logging.getLogger(__name__)

ProviderFor = Callable[[str], Provider]


@dataclass(frozen=True)
class Outcome:
    kind: str  # missing | finished | busy | continue | lost
    detail: str = ""


@dataclass(frozen=True)
class _Work:
    item_id: int
    target_key: str
    model: str
    messages: list[dict[str, Any]]
    truth: str


@dataclass(frozen=True)
class _Answer:
    result: ChatResult | None
    error: dict[str, Any] | None


def stale_evaluations(session: Session, *, now: dt.datetime, queued_before: dt.datetime, limit: int = 200
                      ) -> list[str]:
    """Evaluations a lost message or a dead worker left behind: queued too long, or running with a lapsed lease."""
    rows = session.scalars(select(Evaluation.id).where(
        Evaluation.status.in_([s.value for s in ACTIVE]),
        ((Evaluation.status == EvaluationStatus.QUEUED.value) & (Evaluation.created_at < queued_before))
        | ((Evaluation.status == EvaluationStatus.RUNNING.value)
           & ((Evaluation.lease_expires_at.is_(None)) | (Evaluation.lease_expires_at < now))),
    ).order_by(Evaluation.id).limit(limit))
    return list(rows)


class EvaluationRunner:
    def __init__(self, sessions: sessionmaker[Session], *, provider_for: ProviderFor, lease_seconds: float = 60.0,
                 max_concurrency: int = 16, budget_seconds: float | None = None) -> None:
        self._sessions = sessions
        self._provider_for = provider_for
        self._lease = dt.timedelta(seconds=lease_seconds)
        self._max_concurrency = max_concurrency
        self._budget = budget_seconds

    # -- claiming ---------------------------------------------------------------------------------

    def _claim(self, evaluation_id: str) -> tuple[Outcome | None, int]:
        with self._sessions() as session:
            evaluation = session.scalars(skip_locked(session, select(Evaluation)
                                                     .where(Evaluation.id == evaluation_id))).first()
            if evaluation is None:
                exists = session.get(Evaluation, evaluation_id) is not None
                return Outcome("busy" if exists else "missing"), 0
            status = EvaluationStatus(evaluation.status)
            if status not in ACTIVE:
                return Outcome("finished", status.value), 0
            now = utcnow()
            if status == EvaluationStatus.RUNNING and evaluation.lease_expires_at is not None \
                    and evaluation.lease_expires_at > now:
                return Outcome("busy", "another worker holds the lease"), 0
            evaluation.attempts += 1
            evaluation.lease_expires_at = now + self._lease
            if status == EvaluationStatus.QUEUED:
                transition(session, evaluation, EvaluationStatus.RUNNING, reason="a worker started asking")
            session.commit()
            return None, evaluation.attempts

    def _pending(self, evaluation_id: str) -> tuple[list[_Work], dict[str, Any], str]:
        with self._sessions() as session:
            evaluation = session.get(Evaluation, evaluation_id)
            assert evaluation is not None
            models = {t["key"]: t.get("endpoint") or t["model"] for t in evaluation.targets if t["kind"] != "baseline"}
            rows = session.execute(select(EvaluationItem.id, EvaluationItem.target_key, EvaluationItem.input,
                                          EvaluationItem.truth).where(
                EvaluationItem.evaluation_id == evaluation_id, EvaluationItem.status == "pending",
            ).order_by(EvaluationItem.example_index, EvaluationItem.id)).all()
            work = [_Work(r.id, r.target_key, models[r.target_key], list(r.input), r.truth) for r in rows
                    if r.target_key in models]
            return work, dict(evaluation.spec), evaluation.task

    # -- asking -----------------------------------------------------------------------------------

    def _ask(self, provider: Provider, work: _Work, spec: dict[str, Any]) -> _Answer:
        params: dict[str, Any] = {"temperature": spec.get("temperature", 0.0)}
        if spec.get("seed") is not None:
            params["seed"] = spec["seed"]
        if spec.get("max_tokens") is not None:
            params["max_tokens"] = spec["max_tokens"]
        try:
            return _Answer(provider.chat_completion(work.model, work.messages, **params), None)
        except ProviderError as exc:
            return _Answer(None, {"code": exc.code, "message": exc.message, "status": exc.status_code,
                                  "retryable": exc.retryable})
        except Exception as exc:  # a bug here must mark the item, not lose the run
            log.exception("evaluation item %s: unexpected error", work.item_id)
            return _Answer(None, {"code": "internal_error", "message": type(exc).__name__, "status": None,
                                  "retryable": False})

    def _record(self, evaluation_id: str, attempt: int, work: _Work, answer: _Answer, task: m.Task,
                labels: frozenset[str], target: dict[str, Any]) -> tuple[bool, str]:
        """Write one answer; returns (lease still ours, evaluation status)."""
        now = utcnow()
        values: dict[str, Any] = {"finished_at": now}
        prompt = completion = 0
        cost = 0.0
        if answer.result is not None:
            usage = answer.result.usage or {}
            prompt, completion = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
            cost = cost_usd(prompt, completion, target)
            scored = m.score_answer(task, work.truth, answer.result.content, labels=labels)
            values.update(status="done", answer=answer.result.content, parsed=scored.parsed, score=scored.score,
                          prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost)
        else:
            values.update(status="failed", error=answer.error, prompt_tokens=0, completion_tokens=0, cost_usd=0.0)
        with self._sessions() as session:
            written = cast(CursorResult[Any], session.execute(update(EvaluationItem).where(
                EvaluationItem.id == work.item_id, EvaluationItem.status == "pending").values(**values))).rowcount
            failed = 1 if answer.result is None else 0
            renewed = cast(CursorResult[Any], session.execute(update(Evaluation).where(
                Evaluation.id == evaluation_id, Evaluation.attempts == attempt,
                Evaluation.status == EvaluationStatus.RUNNING.value).values(
                completed_items=Evaluation.completed_items + written,
                failed_items=Evaluation.failed_items + failed * written,
                prompt_tokens=Evaluation.prompt_tokens + prompt * written,
                completion_tokens=Evaluation.completion_tokens + completion * written,
                actual_cost_usd=Evaluation.actual_cost_usd + cost * written,
                lease_expires_at=now + self._lease,
            ))).rowcount
            status = session.scalar(select(Evaluation.status).where(Evaluation.id == evaluation_id)) or ""
            session.commit()
        return bool(renewed), status

    # -- the run ----------------------------------------------------------------------------------

    def run(self, evaluation_id: str) -> Outcome:
        refused, attempt = self._claim(evaluation_id)
        if refused is not None:
            return refused
        work, spec, task_name = self._pending(evaluation_id)
        task: m.Task = task_name  # type: ignore[assignment]
        labels = frozenset(spec.get("labels") or [])
        with self._sessions() as session:
            evaluation = session.get(Evaluation, evaluation_id)
            assert evaluation is not None
            targets = {t["key"]: t for t in evaluation.targets}
        provider = self._provider_for(spec.get("provider") or "openai")
        concurrency = max(1, min(int(spec.get("concurrency") or 1), self._max_concurrency))
        started = time.monotonic()
        stop: str | None = None
        queue = list(reversed(work))
        in_flight: dict[Future[_Answer], _Work] = {}
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"eval-{evaluation_id[-6:]}") as pool:
            while queue or in_flight:
                while queue and stop is None and len(in_flight) < concurrency:
                    item = queue.pop()
                    in_flight[pool.submit(self._ask, provider, item, spec)] = item
                if not in_flight:
                    break
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    item = in_flight.pop(future)
                    ours, status = self._record(evaluation_id, attempt, item, future.result(), task, labels,
                                                targets[item.target_key])
                    if status == EvaluationStatus.CANCELLED.value:
                        stop = stop or "cancelled"
                    elif not ours:
                        stop = stop or "lost"
                if stop is None and self._budget is not None and time.monotonic() - started > self._budget:
                    stop = "budget"
        return self._end(evaluation_id, attempt, stop)

    def _end(self, evaluation_id: str, attempt: int, stop: str | None) -> Outcome:
        with self._sessions() as session:
            evaluation = session.scalars(select(Evaluation).where(Evaluation.id == evaluation_id)
                                         .with_for_update()).first()
            if evaluation is None:
                return Outcome("missing")
            if evaluation.status == EvaluationStatus.CANCELLED.value:
                finish(session, evaluation, EvaluationStatus.CANCELLED, reason="cancelled")  # refresh what arrived
                session.commit()
                return Outcome("finished", "cancelled")
            if stop == "lost" or evaluation.attempts != attempt:
                return Outcome("lost", "another worker took over the lease")
            pending = session.scalar(select(EvaluationItem.id).where(
                EvaluationItem.evaluation_id == evaluation_id, EvaluationItem.status == "pending").limit(1))
            if pending is not None:
                evaluation.lease_expires_at = None  # free for the next run at once
                session.commit()
                return Outcome("continue", stop or "items left")
            asked = [t["key"] for t in evaluation.targets if t["kind"] != "baseline"]
            answered = session.scalar(select(EvaluationItem.id).where(
                EvaluationItem.evaluation_id == evaluation_id, EvaluationItem.target_key.in_(asked),
                EvaluationItem.status == "done").limit(1))
            if asked and answered is None:
                first = session.scalar(select(EvaluationItem.error).where(
                    EvaluationItem.evaluation_id == evaluation_id, EvaluationItem.status == "failed").limit(1))
                finish(session, evaluation, EvaluationStatus.FAILED, reason="every model call failed",
                       error={"code": "all_calls_failed", "message": "every model call failed",
                              "first_error": first})
            else:
                finish(session, evaluation, EvaluationStatus.SUCCEEDED, reason="every item answered")
            session.commit()
            return Outcome("finished", evaluation.status)
