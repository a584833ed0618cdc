"""``/healthz`` (the process answers) and ``/readyz`` (it can do its work: database and broker reachable).

Neither needs a key: orchestrators and load balancers call them. They say which dependency is
down, never how it is configured (no URLs, no credentials).
"""

from __future__ import annotations

import importlib
import logging
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
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


def _broker() -> tuple[Check, str | None]:
    """Asks the worker package, which owns the Celery app; "unknown" until that package provides one."""
    try:
        module: Any = importlib.import_module("worker.celery_app")
    except ImportError:
        return "unknown", "worker.celery_app is not installed"
    celery = getattr(module, "celery_app", None) or getattr(module, "app", None)
    if celery is None:
        return "unknown", "worker.celery_app has no Celery app"
    try:
        with celery.connection_for_write() as connection:
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
    for name, (state, detail) in (("database", _database(request.app.state.sessionmaker)), ("broker", _broker())):
        checks[name] = state
        if detail:
            details[name] = detail
    ready = all(state != "error" for state in checks.values())
    body = Readiness(status="ready" if ready else "not_ready", checks=checks, details=details)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
