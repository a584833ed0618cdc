"""Tenants and their API keys: the walls of DESIGN §2.

A key is ``ftk_`` plus 43 random url-safe characters (256 bits). Only its sha256 is stored: a
leaked database does not leak working keys, and lookup stays an indexed equality on the hash
(no per-row slow hash is needed for a secret this long). The plaintext is returned once, by
:func:`create_api_key`, and never logged. Functions here take the session and never commit.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import BadRequest, Conflict, DomainError, NotFound
from core.models import ApiKey, Tenant, utcnow

KEY_PREFIX = "ftk_"
_SHOWN_PREFIX_LEN = 12  # "ftk_" + 8 characters: enough to tell keys apart in a listing, useless to an attacker


class Unauthorized(DomainError):
    """No key, or one that is unknown or revoked. The message never says which, nor echoes the key."""

    status_code = 401
    error_type = "unauthorized"


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def create_tenant(session: Session, name: str) -> Tenant:
    name = name.strip()
    if not name:
        raise BadRequest("a tenant needs a non-empty name")
    tenant = Tenant(name=name)
    try:
        with session.begin_nested():
            session.add(tenant)
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a tenant named {name!r} already exists") from exc
    return tenant


def find_tenant(session: Session, name_or_id: str) -> Tenant:
    """By id or by name: operators remember names, scripts keep ids."""
    tenant = session.scalars(select(Tenant).where(or_(Tenant.id == name_or_id, Tenant.name == name_or_id))).first()
    if tenant is None:
        raise NotFound(f"no tenant {name_or_id!r}", details={"param": "tenant"})
    return tenant


def create_api_key(session: Session, tenant_id: str, *, name: str = "", is_admin: bool = False) -> tuple[ApiKey, str]:
    """Returns the row and the plaintext key. The plaintext exists only in this return value."""
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(tenant_id=tenant_id, name=name, key_prefix=plaintext[:_SHOWN_PREFIX_LEN],
                 key_hash=hash_key(plaintext), is_admin=is_admin)
    session.add(row)
    session.flush()
    return row, plaintext


def authenticate(session: Session, plaintext: str | None) -> tuple[Tenant, ApiKey]:
    """The tenant a bearer key belongs to, or :class:`Unauthorized` (missing, unknown or revoked alike)."""
    if not plaintext:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    found = session.execute(
        select(Tenant, ApiKey).join(ApiKey, ApiKey.tenant_id == Tenant.id)
        .where(ApiKey.key_hash == hash_key(plaintext), ApiKey.revoked_at.is_(None))
    ).first()
    if found is None:
        raise Unauthorized("invalid or revoked API key")
    tenant, key = found
    return tenant, key


def revoke_api_key(session: Session, key_id: str, *, tenant_id: str | None = None) -> ApiKey:
    """Revoking twice is harmless; the first revocation time is kept."""
    query = select(ApiKey).where(ApiKey.id == key_id)
    if tenant_id is not None:
        query = query.where(ApiKey.tenant_id == tenant_id)
    key = session.scalars(query).first()
    if key is None:
        raise NotFound(f"no API key with id {key_id!r}", details={"param": "key_id", "id": key_id})
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
    return key


def list_api_keys(session: Session, tenant_id: str) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.created_at)))
