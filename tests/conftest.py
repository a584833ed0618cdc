"""Shared fixtures: each area keeps its own in ``tests/fixtures/<area>.py`` and is listed here."""

pytest_plugins = [
    "tests.fixtures.repo_guard",
    "tests.fixtures.api",
    "tests.fixtures.service",
    "tests.fixtures.browser",
    "tests.fixtures.db",
]
