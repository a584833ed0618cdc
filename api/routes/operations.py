"""``GET /metrics``: Prometheus text format for operators (see ``core.telemetry``).

Open by default, as scrape targets usually are (it shows counts, never a tenant's data); with
``FINETUNER_METRICS_TOKEN`` set it wants ``Authorization: Bearer <that token>``.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.deps import SettingsDep
from core import telemetry
from core.config import Settings
from core.errors import DomainError
from core.jobs import count_by_status
from core.models import WebhookDelivery
from core.states import JobStatus

router = APIRouter(tags=["operations"])
QUEUE = "finetuner"  # worker.celery_app.QUEUE; the API does not import the worker for a scrape


class MetricsUnauthorized(DomainError):
    status_code = 401
    error_type = "unauthorized"


def _queue_depth(broker_url: str) -> float | None:
    if not broker_url.startswith(("redis://", "rediss://")):
        return None  # the embedded broker keeps messages in SQLite; its depth is not worth a scrape's query
    import redis

    client = redis.Redis.from_url(broker_url, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        return float(client.llen(QUEUE))
    finally:
        client.close()


def _state(sessions: sessionmaker[Session], settings: Settings) -> telemetry.StateCollector:
    def read() -> dict[str, tuple[str, list[str], list[tuple[list[str], float]]]]:
        with sessions() as session:
            counts = count_by_status(session)
            waiting = session.scalar(select(func.count()).select_from(WebhookDelivery)
                                     .where(WebhookDelivery.status == "pending")) or 0
        families: dict[str, tuple[str, list[str], list[tuple[list[str], float]]]] = {
            "finetuner_jobs": ("Jobs by status (all tenants)", ["status"],
                               [([s.value], float(counts.get(s.value, 0))) for s in JobStatus]),
            "finetuner_webhook_deliveries_pending": ("Webhook deliveries not yet delivered or given up", [],
                                                     [([], float(waiting))]),
        }
        try:
            depth = _queue_depth(settings.broker_url)
        except Exception:  # the broker being down is /readyz's news; the scrape still answers
            depth = None
        if depth is not None:
            families["finetuner_queue_depth"] = ("Messages waiting in the worker queue", ["queue"],
                                                 [([QUEUE], depth)])
        return families

    return telemetry.StateCollector(read)


@router.get("/metrics", include_in_schema=True, summary="Prometheus metrics",
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
def metrics(request: Request, settings: SettingsDep) -> Response:
    token = settings.metrics_token
    if token:
        given: Any = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise MetricsUnauthorized("GET /metrics needs Authorization: Bearer <FINETUNER_METRICS_TOKEN>")
    body = telemetry.exposition(_state(request.app.state.sessionmaker, settings))
    return Response(body, media_type=telemetry.CONTENT_TYPE)
