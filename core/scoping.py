"""Tenant walls in one place: every read of a tenant-owned row goes through these helpers, so a
new route cannot forget the filter. Another tenant's id is indistinguishable from an unknown one."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from core.errors import NotFound


class TenantOwned(Protocol):
    tenant_id: Any
    id: Any


T = TypeVar("T")

_NAMES = {"Job": "job", "Dataset": "dataset", "Webhook": "webhook", "Evaluation": "evaluation"}


def owned(model: type[T], tenant_id: str) -> Select[T]:
    """``SELECT model WHERE tenant_id = :tenant_id`` — the start of every tenant query."""
    column: InstrumentedAttribute[str] = model.tenant_id  # type: ignore[attr-defined]
    return select(model).where(column == tenant_id)


def get_owned(session: Session, model: type[T], tenant_id: str, object_id: str, *, for_update: bool = False) -> T:
    """The row, or ``NotFound`` naming the id — whether it is unknown or another tenant's."""
    id_column: InstrumentedAttribute[str] = model.id  # type: ignore[attr-defined]
    query = owned(model, tenant_id).where(id_column == object_id)
    if for_update:
        query = query.with_for_update()
    row = session.scalars(query).first()
    if row is None:
        what = _NAMES.get(model.__name__, model.__name__.lower())
        raise NotFound(f"no {what} with id {object_id!r}", details={"param": f"{what}_id", "id": object_id})
    return row


def page(
    session: Session, query: Select[T], id_column: InstrumentedAttribute[Any], *,
    limit: int, after: Any | None, newest_first: bool,
) -> tuple[list[T], bool]:
    """Cursor pagination of DESIGN §8: ``after`` is the last id of the previous page."""
    if after is not None:
        query = query.where(id_column < after if newest_first else id_column > after)
    query = query.order_by(id_column.desc() if newest_first else id_column.asc()).limit(limit + 1)
    rows = list(session.scalars(query))
    return rows[:limit], len(rows) > limit


def owned_columns(model: type[Any], tenant_id: str, *columns: Any) -> Select[Any]:
    """``SELECT columns FROM model WHERE tenant_id = …``: the wall for bulk reads that skip the ORM objects
    (a 100,000-point loss curve read as tuples, not rows)."""
    column: InstrumentedAttribute[str] = model.tenant_id
    return select(*columns).where(column == tenant_id)
