"""Alembic environment: the URL comes from ``core.config`` so migrations and the service agree."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, engine_from_config, pool

from core.config import get_settings
from core.models import Base

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

url = config.attributes.get("database_url") or get_settings().database_url
config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
target_metadata = Base.metadata


def _configure(connection: Connection | None = None) -> None:
    render_as_batch = url.startswith("sqlite")  # SQLite needs batch mode for ALTER TABLE
    if connection is None:
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True,
                          render_as_batch=render_as_batch, compare_type=True)
    else:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=render_as_batch, compare_type=True)


def run_migrations_offline() -> None:
    _configure()
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _configure(connectable)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                poolclass=pool.NullPool)
    with engine.connect() as connection:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
