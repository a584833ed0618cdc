"""Fixtures of the emulator's own tests.

``emulator_server`` (a factory) and ``emulator`` (the shared instance) live in
``tests/emulator/server.py`` so other suites can import them; this file adds the checks that only
the emulator's tests want: every response any of their servers sent is validated against OpenAI's
schema after each test, and faults injected by one test never leak into the next.
"""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.emulator.schema import validate_exchange
from tests.emulator.server import EmulatorFactory, RunningEmulator, emulator, emulator_server

__all__ = ["emulator", "emulator_server"]

_STARTED: list[RunningEmulator] = []


@pytest.fixture(scope="session")
def tracked_server(emulator_server: EmulatorFactory) -> EmulatorFactory:
    """``emulator_server`` whose servers are also schema-checked after each test."""
    def start(*args: object, **kwargs: object) -> RunningEmulator:
        running = emulator_server(*args, **kwargs)
        _STARTED.append(running)
        return running

    return start


@pytest.fixture(scope="session")
def emu(tracked_server: EmulatorFactory) -> RunningEmulator:
    """The shared emulator for these tests (test time scale, key ``sk-emulator-test``)."""
    return tracked_server()


@pytest.fixture
def client(emu: RunningEmulator) -> openai.OpenAI:
    return emu.client()


@pytest.fixture(autouse=True)
def _schema_checked_and_fault_free() -> Iterator[None]:
    seen = {id(r): len(r.exchanges) for r in _STARTED}
    yield
    problems: list[str] = []
    for running in list(_STARTED):
        running.state.clear_faults()
        for exchange in running.exchanges[seen.get(id(running), 0):]:
            try:
                validate_exchange(exchange, running.prefix)
            except AssertionError as exc:
                problems.append(str(exc))
    assert not problems, "responses that do not match OpenAI's schema:\n" + "\n\n".join(problems)

