"""Dependencies, named once as ``Annotated`` aliases so route signatures read like sentences.

A request gets one session. Routes that change rows own the unit of work: they call
``session.commit()`` themselves, and ``core.dispatch`` sends the deferred tasks only after that
commit succeeds. Whatever is not committed is rolled back when the session closes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from core.catalog import ModelCatalog
from core.config import Settings
from core.models import ApiKey, Tenant
from core.storage import BlobStore
from core.tenants import authenticate

OPENAI_PUBLIC_BASE_URLS = {"https://api.openai.com/v1", "https://api.openai.com/v1/"}


def get_settings_of_app(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    session = factory()
    try:
        yield session
    finally:
        session.close()  # rolls back anything the route did not commit


def get_catalog(request: Request) -> ModelCatalog:
    catalog: ModelCatalog = request.app.state.catalog
    return catalog


def get_blob_store(request: Request) -> BlobStore:
    store: BlobStore = request.app.state.blob_store
    return store


SettingsDep = Annotated[Settings, Depends(get_settings_of_app)]
SessionDep = Annotated[Session, Depends(get_session)]
CatalogDep = Annotated[ModelCatalog, Depends(get_catalog)]
BlobStoreDep = Annotated[BlobStore, Depends(get_blob_store)]

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer ftk_…`")


@dataclass(frozen=True)
class Caller:
    tenant: Tenant
    key: ApiKey


def current_caller(
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """401 for a missing, unknown or revoked key (``core.tenants.Unauthorized``); never logs the key."""
    tenant, key = authenticate(session, credentials.credentials if credentials else None)
    return Caller(tenant=tenant, key=key)


def current_tenant(caller: Annotated[Caller, Depends(current_caller)]) -> Tenant:
    return caller.tenant


CallerDep = Annotated[Caller, Depends(current_caller)]
TenantDep = Annotated[Tenant, Depends(current_tenant)]


def get_today() -> dt.date:
    """Today in UTC. A dependency so tests can move the calendar past a provider's cut-off."""
    return dt.datetime.now(dt.UTC).date()


@dataclass(frozen=True)
class CutoffPolicy:
    enforce: bool
    today: dt.date


def get_cutoff_policy(settings: SettingsDep, today: Annotated[dt.date, Depends(get_today)]) -> CutoffPolicy:
    """Cut-off dates are OpenAI's and apply only to its real endpoint (DESIGN §8).

    The emulator (no ``OPENAI_API_KEY``), a custom base URL and Azure keep their own calendars.
    """
    real_openai = (
        settings.openai_api_key is not None
        and not settings.azure_openai_endpoint
        and (not settings.openai_base_url or settings.openai_base_url in OPENAI_PUBLIC_BASE_URLS)
    )
    return CutoffPolicy(enforce=real_openai, today=today)


CutoffDep = Annotated[CutoffPolicy, Depends(get_cutoff_policy)]

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=255,
           description="Repeat a request safely: same key and same body → the original answer, no new row"),
]
Limit = Annotated[int, Query(ge=1, le=100, description="Page size (at most 100)")]
CHILD_PAGE_MAX = 1000  # a job's events, transitions and metrics: tailing a long job in pages of 100 is slow
ChildLimit = Annotated[int, Query(ge=1, le=CHILD_PAGE_MAX, description=f"Page size (at most {CHILD_PAGE_MAX})")]
After = Annotated[str | None, Query(max_length=64, description="The last id of the previous page")]
