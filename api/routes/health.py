"""``/healthz`` (the process answers) and ``/readyz`` (it can do its work: database and broker reachable).

Neither needs a key: orchestrators and load balancers call them. They say which dependency is
down, never how it is configured (no URLs, no credentials).
"""

from __future__ import annotations

import logging
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from kombu.connection import Connection
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from api.schemas import Health, Readiness

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])

Check = Literal["ok", "error", "unknown"]
BROKER_TIMEOUT_SECONDS = 2.0


def _database(factory: sessionmaker[Session]) -> tuple[Check, str | None]:
    try:
        with factory() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:
        log.warning("readiness: database unreachable: %s", type(exc).__name__)
        return "error", type(exc).__name__
    return "ok", None


def _broker(url: str) -> tuple[Check, str | None]:
    """Connects to the app's own broker URL (the one its tasks are sent to), with a short timeout."""
    if not url:
        return "unknown", "no broker configured"
    try:
        with Connection(url, connect_timeout=BROKER_TIMEOUT_SECONDS,  # type: ignore[no-untyped-call]
                        transport_options={"socket_connect_timeout": BROKER_TIMEOUT_SECONDS}) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0,
                                         timeout=BROKER_TIMEOUT_SECONDS)
    except Exception as exc:
        log.warning("readiness: broker unreachable: %s", type(exc).__name__)
        return "error", type(exc).__name__
    return "ok", None


@router.get("/healthz", response_model=Health, summary="The process is up")
def healthz() -> Health:
    return Health()


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}},
            summary="Database and broker are reachable")
def readyz(request: Request) -> JSONResponse:
    checks: dict[str, Check] = {}
    details: dict[str, str] = {}
    results = {"database": _database(request.app.state.sessionmaker),
               "broker": _broker(request.app.state.settings.broker_url)}
    for name, (state, detail) in results.items():
        checks[name] = state
        if detail:
            details[name] = detail
    ready = all(state != "error" for state in checks.values())
    body = Readiness(status="ready" if ready else "not_ready", checks=checks, details=details)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
