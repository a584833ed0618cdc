"""Operator commands: ``python -m api.admin create-tenant NAME``, ``create-key``, ``revoke-key``, ``list-keys``.

A key is printed once, alone on stdout (so ``KEY=$(python -m api.admin create-key --tenant acme)``
works); notes go to stderr. Only its hash is stored, so a lost key is revoked and replaced, never
recovered. The database must already be migrated (``alembic upgrade head``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from core.config import get_settings
from core.db import session_scope
from core.errors import DomainError
from core.tenants import create_api_key, create_tenant, find_tenant, list_api_keys, revoke_api_key

cli = typer.Typer(help="Create tenants and API keys for finetuner.", no_args_is_help=True, add_completion=False)

DatabaseUrl = Annotated[str | None, typer.Option("--database-url", help="Defaults to FINETUNER_DATABASE_URL")]


def _note(message: str) -> None:
    typer.echo(message, err=True)


def _fail(exc: DomainError) -> typer.Exit:
    _note(f"error: {exc.message}")
    return typer.Exit(code=1)


def _url(database_url: str | None) -> str:
    return database_url or get_settings().database_url


@cli.command("create-tenant")
def create_tenant_command(
    name: str,
    with_key: Annotated[bool, typer.Option("--with-key", help="Also create a first API key and print it")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a tenant; prints its id (and, with --with-key, a key on the next line)."""
    try:
        with session_scope(_url(database_url)) as session:
            tenant = create_tenant(session, name)
            plaintext = create_api_key(session, tenant.id, name="initial")[1] if with_key else None
            tenant_id = tenant.id
    except DomainError as exc:
        raise _fail(exc) from exc
    typer.echo(tenant_id)
    if plaintext:
        typer.echo(plaintext)
        _note("Store the key now: it is not shown again.")


@cli.command("create-key")
def create_key_command(
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant id or name")],
    name: Annotated[str, typer.Option("--name", help="A label for the key")] = "",
    admin: Annotated[bool, typer.Option("--admin", help="Mark the key as an admin key")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API key for a tenant and print it, once."""
    try:
        with session_scope(_url(database_url)) as session:
            owner = find_tenant(session, tenant)
            key, plaintext = create_api_key(session, owner.id, name=name, is_admin=admin)
            key_id, tenant_id = key.id, owner.id
    except DomainError as exc:
        raise _fail(exc) from exc
    typer.echo(plaintext)
    _note(f"API key {key_id} for tenant {tenant_id}. Store it now: it is not shown again.")


@cli.command("revoke-key")
def revoke_key_command(key_id: str, database_url: DatabaseUrl = None) -> None:
    """Revoke an API key by its id (``key_…``); requests with it get 401 from now on."""
    try:
        with session_scope(_url(database_url)) as session:
            key = revoke_api_key(session, key_id)
            revoked_at = key.revoked_at
    except DomainError as exc:
        raise _fail(exc) from exc
    _note(f"API key {key_id} revoked at {revoked_at:%Y-%m-%dT%H:%M:%SZ}" if revoked_at else f"revoked {key_id}")


@cli.command("list-keys")
def list_keys_command(
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant id or name")], database_url: DatabaseUrl = None,
) -> None:
    """List a tenant's keys: id, visible prefix, name, state. Never the key itself."""
    try:
        with session_scope(_url(database_url)) as session:
            owner = find_tenant(session, tenant)
            rows = [(k.id, k.key_prefix, k.name, "revoked" if k.revoked_at else "active", k.is_admin)
                    for k in list_api_keys(session, owner.id)]
    except DomainError as exc:
        raise _fail(exc) from exc
    for key_id, prefix, name, state, is_admin in rows:
        typer.echo(f"{key_id}\t{prefix}…\t{state}{' admin' if is_admin else ''}\t{name}")


if __name__ == "__main__":
    cli()
