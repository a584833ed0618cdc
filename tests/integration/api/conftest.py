"""Point the API fixtures at a throwaway PostgreSQL database, migrated with Alembic, for this session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.api import pg_database


@pytest.fixture(scope="session")
def api_pg_url() -> Iterator[str]:
    with pg_database("finetuner_test_api") as url:
        yield url


@pytest.fixture
def api_database_url(api_pg_url: str) -> str:
    """Overrides the SQLite default of ``tests.fixtures.api``; tests stay isolated by tenant."""
    return api_pg_url
