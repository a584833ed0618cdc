"""``GET /v1/jobs/{id}/stream``: a job's transitions, events and metrics points as server-sent events.

The database stays the truth: the stream polls it (every ``stream_poll_seconds``) for rows after
the client's cursor, so any API process can serve any client and a reconnect with
``Last-Event-ID`` resumes exactly (see ``core.job_feed``). Message kinds: ``job`` (the job when it
changed), ``transition``, ``event``, ``metric``, and a final ``end`` carrying the finished job.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session, sessionmaker

from api.deps import SessionDep, SettingsDep, TenantDep, get_catalog
from api.errors import COMMON_ERRORS
from api.schemas import EventOut, JobOut, MetricOut, TransitionOut
from core import job_feed, jobs
from core.catalog import ModelCatalog

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=COMMON_ERRORS)

Message = tuple[str, str, dict[str, Any]]  # (SSE event name, SSE id, data)


def _read(sessions: sessionmaker[Session], catalog: ModelCatalog, tenant_id: str, job_id: str,
          cursor: job_feed.Cursor) -> tuple[list[Message], job_feed.Cursor, dict[str, Any], bool]:
    """One poll, in a worker thread with its own short session: (messages, new cursor, job, finished)."""
    with sessions() as session:
        batch = job_feed.read_since(session, tenant_id, job_id, cursor)
        messages: list[Message] = []
        for transition in batch.transitions:
            cursor = job_feed.Cursor(transition.id, cursor.event, cursor.metric)
            messages.append(("transition", cursor.text(), TransitionOut.from_row(transition).model_dump(mode="json")))
        for event in batch.events:
            cursor = job_feed.Cursor(cursor.transition, event.id, cursor.metric)
            messages.append(("event", cursor.text(), EventOut.from_row(event).model_dump(mode="json")))
        for metric in batch.metrics:
            cursor = job_feed.Cursor(cursor.transition, cursor.event, metric.id)
            messages.append(("metric", cursor.text(), MetricOut.from_row(metric).model_dump(mode="json")))
        drained = max(len(batch.transitions), len(batch.events), len(batch.metrics)) < job_feed.BATCH
        return messages, cursor, JobOut.from_row(batch.job, catalog).model_dump(mode="json"), batch.finished and drained


def _sse(event: str, event_id: str, data: dict[str, Any]) -> str:
    return f"id: {event_id}\nevent: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def _messages(request: Request, sessions: sessionmaker[Session], tenant_id: str, job_id: str,
                    cursor: job_feed.Cursor, poll: float, keepalive: float) -> AsyncIterator[str]:
    yield f"retry: {int(max(poll, 1.0) * 1000)}\n\n"
    last_job: dict[str, Any] | None = None
    quiet_since = time.monotonic()
    catalog = get_catalog(request)
    while True:
        messages, cursor, job, finished = await anyio.to_thread.run_sync(_read, sessions, catalog, tenant_id, job_id,
                                                                          cursor)
        for event, event_id, data in messages:
            yield _sse(event, event_id, data)
        if job != last_job:
            yield _sse("job", cursor.text(), job)
            last_job = job
        if finished:
            yield _sse("end", cursor.text(), job)
            return
        if messages:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= keepalive:
            yield ": keep-alive\n\n"
            quiet_since = time.monotonic()
        if await request.is_disconnected():
            return
        await anyio.sleep(poll)


@router.get("/{job_id}/stream", summary="Follow a job live (server-sent events)", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                             "description": "`job`, `transition`, `event`, `metric` messages, then `end`"}})
def stream_job(job_id: str, request: Request, session: SessionDep, tenant: TenantDep, settings: SettingsDep,
               last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
               ) -> StreamingResponse:
    """Everything after ``Last-Event-ID`` (or from the start), then live until the job ends."""
    cursor = job_feed.Cursor.parse(last_event_id)
    jobs.get_job(session, tenant.id, job_id)  # 404 before the stream starts
    body = _messages(request, request.app.state.sessionmaker, tenant.id, job_id, cursor,
                     settings.stream_poll_seconds, settings.stream_keepalive_seconds)
    return StreamingResponse(body, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
