"""``Idempotency-Key`` replay, once for every resource that accepts the header (jobs, datasets,
evaluations, sweeps): each of them spends money when repeated by a client retrying a lost answer.

Same key and same request (by fingerprint) returns the first row; same key and a different
request is a 422 naming the key. The unique (tenant, key) constraint, not a prior read, settles
concurrent repeats: the loser's insert fails inside a savepoint and it replays the winner's row.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from core.errors import Unprocessable
from core.scoping import owned


class Keyed(Protocol):
    id: Any
    tenant_id: Any
    idempotency_key: Any
    request_hash: Any


K = TypeVar("K", bound=Keyed)


def fingerprint(request: Any) -> str:
    """A stable hash of a parsed request: the same key with the same request replays the first answer."""
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


def _for_key(session: Session, model: type[K], tenant_id: str, key: str) -> K | None:
    column: InstrumentedAttribute[str | None] = model.idempotency_key
    return session.scalars(owned(model, tenant_id).where(column == key)).first()


def _replay(row: K, fingerprint: str, key: str, what: str) -> K:
    if row.request_hash != fingerprint:
        name = type(row).__name__.lower()
        raise Unprocessable(f"Idempotency-Key {key!r} was already used with a different {what}",
                            details={"param": "Idempotency-Key", f"{name}_id": row.id})
    return row


def replayed(session: Session, model: type[K], tenant_id: str, key: str | None, fingerprint: str, *,
             what: str) -> K | None:
    """The row an earlier request with this key made (422 if its request differed), or ``None``."""
    if key is None:
        return None
    row = _for_key(session, model, tenant_id, key)
    return None if row is None else _replay(row, fingerprint, key, what)


def insert_once(session: Session, row: K, *, key: str | None, fingerprint: str, what: str) -> tuple[K, bool]:
    """Insert ``row``; if a concurrent request with the same key won, its row instead. Returns (row, created)."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        winner = _for_key(session, type(row), row.tenant_id, key) if key is not None else None
        if winner is None or key is None:
            raise
        return _replay(winner, fingerprint, key, what), False
    return row, True
