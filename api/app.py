"""The FastAPI application factory.

``create_app(settings)`` builds one self-contained app: its own settings, sessionmaker, model
catalog and blob store on ``app.state``, so tests and the embedded runner can hold several apps
with different databases in one process. Start-up installs the Celery task sender (when the worker
package provides one) and, with no OpenAI key, mounts the emulator at ``/emulator/v1``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline

from api.body_limit import BodyLimit, LimitFor
from api.errors import install_error_handlers
from api.routes import (
    compare,
    dashboard,
    datasets,
    evaluations,
    health,
    job_stream,
    jobs,
    models,
    operations,
    provider_webhooks,
    sweeps,
    webhooks,
)
from api.text_guard import reject_unstorable_text
from api.uploads import FORM_OVERHEAD_BYTES
from core.catalog import ModelCatalog
from core.config import Settings, get_settings
from core.db import get_sessionmaker
from core.storage import BlobStore

log = logging.getLogger(__name__)

EMULATOR_MOUNT = "/emulator/v1"
TOGETHER_EMULATOR_MOUNT = "/emulator/together"  # the SDK adds /v1/... itself


def install_task_sender(settings: Settings) -> None:
    """Make ``core.dispatch`` send deferred tasks through Celery, to this app's broker.

    The worker package owns the Celery app; one configured from other settings (tests, an embedded
    runner) would send elsewhere, so a Celery app is made for these settings when the URLs differ.
    Imported here, not at module level: Celery is only loaded by an API that sends tasks.
    """
    from worker.celery_app import celery_app, install_sender, make_celery

    if celery_app.conf.broker_url != settings.broker_url:
        install_sender(make_celery(settings))
    else:
        install_sender()



def body_limits(settings: Settings) -> LimitFor:
    """Each route's body limit: the upload maximum (plus the form's own fields) for dataset uploads
    and the mounted emulator's files, the webhook limit for provider webhooks, else the JSON limit."""
    upload = settings.max_upload_bytes + FORM_OVERHEAD_BYTES

    def limit_for(method: str, path: str) -> int:
        if (method == "POST" and path.rstrip("/") == "/v1/datasets") or path.startswith(EMULATOR_MOUNT + "/"):
            return upload
        if path.startswith("/v1/provider-webhooks/"):
            return settings.max_provider_webhook_body_bytes
        return settings.max_json_body_bytes

    return limit_for


def install_secret_redaction() -> None:
    """The provider SDK's loggers may echo part of a key in an error; the provider layer filters them."""
    try:
        from core.providers.redaction import install_log_redaction
    except ImportError:
        return
    install_log_redaction()


def _emulator_app(emulator_settings: Any | None, factory_name: str = "create_app") -> Any | None:
    """The emulator's ASGI app, or None if the emulator package is not importable."""
    try:
        emulator: Any = importlib.import_module("emulator")
    except ImportError:
        return None
    factory = getattr(emulator, factory_name, None)
    return factory(emulator_settings) if factory is not None else None


def create_app(settings: Settings | None = None, *, send_tasks: bool = True,
               emulator_settings: Any | None = None) -> FastAPI:
    """Build the API.

    ``send_tasks=False`` leaves ``core.dispatch``'s sender alone (tests install a recorder instead).
    ``emulator_settings`` overrides the mounted emulator's defaults (an ``EmulatorSettings``).
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        install_secret_redaction()
        if send_tasks:
            install_task_sender(settings)
        yield

    # /docs and /redoc load Swagger UI and ReDoc from the installed fastapi-offline package
    # (served under /static-offline-docs), never from a CDN: the embedded default runs offline.
    app = FastAPIOffline(
        title="finetuner",
        version="0.1.0",
        summary="Fine-tuning jobs as durable, observable, recoverable jobs",
        description="Every path under `/v1` needs `Authorization: Bearer <api key>`. Errors are "
                    '`{"error": {"type", "message", "details"}}`: 400 malformed, 401 no/bad key, 404 unknown or '
                    "another tenant's id, 409 state conflict, 413 too large, 422 understood but refused.",
        lifespan=lifespan,
        dependencies=[Depends(reject_unstorable_text)],
    )
    app.state.settings = settings
    app.state.sessionmaker = get_sessionmaker(settings.database_url)
    app.state.catalog = ModelCatalog.load(settings.model_catalog_path)
    app.state.blob_store = BlobStore(settings.storage_path)
    install_error_handlers(app)
    app.add_middleware(BodyLimit, limit_for=body_limits(settings))
    app.include_router(health.router)
    app.include_router(operations.router)
    app.include_router(datasets.router)
    app.include_router(compare.router)  # before jobs: /v1/jobs/compare is not a job id
    app.include_router(jobs.router)
    app.include_router(job_stream.router)
    app.include_router(evaluations.router)
    app.include_router(sweeps.router)
    app.include_router(models.router)
    app.include_router(webhooks.router)
    app.include_router(provider_webhooks.router)
    dashboard.install(app)
    if settings.openai_api_key is None and settings.mount_emulator:
        emulator = _emulator_app(emulator_settings)
        if emulator is None:
            log.warning("no OPENAI_API_KEY and no emulator package; nothing at %s", EMULATOR_MOUNT)
        else:
            app.mount(EMULATOR_MOUNT, emulator)
    if settings.together_api_key is None and settings.mount_emulator:
        together_app = _emulator_app(emulator_settings, "create_together_app")
        if together_app is not None:
            app.mount(TOGETHER_EMULATOR_MOUNT, together_app)
    return app
