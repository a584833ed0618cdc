"""A fresh emulator per test (on a loopback port, via ``tests/emulator/server.py``) and providers
configured against it exactly as production configures them: through ``Settings``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from core.config import Settings
from core.providers import build_provider
from core.providers.openai import OpenAIProvider
from emulator import EmulatorSettings
from tests.emulator.server import RunningEmulator, serve_emulator

EMULATOR_KEY = "sk-emulator-integration-0123456789"

RETRIES = {
    "provider_max_attempts": 4,
    "provider_backoff_initial_seconds": 0.02,
    "provider_backoff_max_seconds": 0.1,
    "provider_retry_after_max_seconds": 5.0,
    "provider_retry_budget_seconds": 15.0,
    "provider_timeout_seconds": 5.0,
}


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    with serve_emulator(EmulatorSettings(api_key=EMULATOR_KEY)) as running:
        yield running


@pytest.fixture
def make_provider(emu: RunningEmulator) -> Iterator[Callable[..., OpenAIProvider]]:
    made: list[OpenAIProvider] = []

    def make(*, api_key: str = EMULATOR_KEY, **overrides: Any) -> OpenAIProvider:
        settings = Settings(openai_api_key=api_key, openai_base_url=emu.base_url, **{**RETRIES, **overrides})
        provider = build_provider(settings, "openai")
        assert isinstance(provider, OpenAIProvider)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


@pytest.fixture
def provider(make_provider: Callable[..., OpenAIProvider]) -> OpenAIProvider:
    return make_provider()


def wait_until_terminal(provider: OpenAIProvider, job_id: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        job = provider.get_job(job_id)
        if job.status in ("succeeded", "failed", "cancelled"):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job.status} after {timeout}s")
        time.sleep(0.05)
