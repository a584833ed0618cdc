"""Provider answers become our errors: retryable vs final, redacted, with the provider's details.

Runs the real ``openai`` SDK and ``OpenAIProvider`` against a scripted loopback server.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable

import pytest

from core.providers.errors import (
    ProviderConflictError,
    ProviderError,
    ProviderFinalError,
    ProviderNotFoundError,
    ProviderRetryableError,
)
from core.providers.openai import OpenAIProvider
from core.providers.openai_errors import is_state_conflict
from tests.unit.providers import payloads
from tests.unit.providers.conftest import ScriptedServer

MakeProvider = Callable[..., OpenAIProvider]
JOB_PATH = "/v1/fine_tuning/jobs/ftjob-1"


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, None, ProviderFinalError),
        (401, "invalid_api_key", ProviderFinalError),
        (403, None, ProviderFinalError),
        (404, None, ProviderNotFoundError),
        (422, None, ProviderFinalError),
        (429, "insufficient_quota", ProviderFinalError),
    ],
)
def test_final_statuses_are_raised_after_one_call(
    server: ScriptedServer, make_provider: MakeProvider, status: int, code: str | None, expected: type[ProviderError]
) -> None:
    server.answer("GET", JOB_PATH, status, payloads.error(f"refused with {status}", code=code, param="model"))
    provider = make_provider()
    with pytest.raises(expected) as caught:
        provider.get_job("ftjob-1")
    assert type(caught.value) is expected and not caught.value.retryable
    assert (caught.value.status_code, caught.value.code, caught.value.param) == (status, code, "model")
    assert caught.value.message == f"refused with {status}", "the provider's own message, not the SDK's wrapper"
    assert len(server.calls_to("GET", JOB_PATH)) == 1


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503])
def test_retryable_statuses_are_retried_then_succeed(
    server: ScriptedServer, make_provider: MakeProvider, status: int
) -> None:
    server.answer("GET", JOB_PATH, status, payloads.error("try again", type_="server_error"), times=2)
    server.answer("GET", JOB_PATH, 200, payloads.job())
    assert make_provider().get_job("ftjob-1").id == "ftjob-1"
    assert len(server.calls_to("GET", JOB_PATH)) == 3


def test_retryable_status_surfaces_as_retryable_once_attempts_are_spent(
    server: ScriptedServer, make_provider: MakeProvider
) -> None:
    server.answer("GET", JOB_PATH, 503, payloads.error("overloaded", type_="server_error"), times=10)
    with pytest.raises(ProviderRetryableError, match="overloaded") as caught:
        make_provider(provider_max_attempts=3).get_job("ftjob-1")
    assert caught.value.status_code == 503 and caught.value.retryable
    assert len(server.calls_to("GET", JOB_PATH)) == 3


def test_sdk_retries_are_off_so_attempts_are_exactly_ours(server: ScriptedServer, make_provider: MakeProvider) -> None:
    server.answer("GET", JOB_PATH, 500, payloads.error("down", type_="server_error"), times=10)
    with pytest.raises(ProviderRetryableError):
        make_provider(provider_max_attempts=1).get_job("ftjob-1")
    assert len(server.calls_to("GET", JOB_PATH)) == 1


def test_429_waits_what_retry_after_ms_says(server: ScriptedServer, make_provider: MakeProvider) -> None:
    server.answer("GET", JOB_PATH, 429, payloads.error("Rate limit reached", code="rate_limit_exceeded"),
                  headers={"retry-after-ms": "1500", "retry-after": "9"})
    server.answer("GET", JOB_PATH, 200, payloads.job())
    sleeps: list[float] = []
    make_provider(sleeps=sleeps).get_job("ftjob-1")
    assert sleeps == [1.5]


def test_retry_after_longer_than_the_cap_is_handed_to_the_caller(
    server: ScriptedServer, make_provider: MakeProvider
) -> None:
    server.answer("GET", JOB_PATH, 429, payloads.error("Rate limit reached"), headers={"retry-after": "600"})
    sleeps: list[float] = []
    with pytest.raises(ProviderRetryableError) as caught:
        make_provider(sleeps=sleeps, provider_retry_after_max_seconds=30).get_job("ftjob-1")
    assert caught.value.retry_after == 600 and sleeps == []


@pytest.mark.parametrize(("header", "expected"), [("false", ProviderFinalError), ("true", ProviderRetryableError)])
def test_x_should_retry_overrides_the_status(
    server: ScriptedServer, make_provider: MakeProvider, header: str, expected: type[ProviderError]
) -> None:
    status = 503 if header == "false" else 400
    server.answer("GET", JOB_PATH, status, payloads.error("says the header"), headers={"x-should-retry": header},
                  times=10)
    with pytest.raises(expected):
        make_provider(provider_max_attempts=2).get_job("ftjob-1")


def test_unreachable_provider_is_a_retryable_connection_error(make_provider: MakeProvider) -> None:
    with socket.socket() as probe:  # a port nobody listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ProviderRetryableError) as caught:
        make_provider(base_url=f"http://127.0.0.1:{port}/v1", provider_max_attempts=2).get_job("ftjob-1")
    assert caught.value.code == "connection_error" and caught.value.status_code is None


def test_slow_provider_times_out_as_retryable(server: ScriptedServer, make_provider: MakeProvider) -> None:
    server.answer("GET", JOB_PATH, 200, payloads.job(), delay=1.0, times=2)
    started = time.monotonic()
    with pytest.raises(ProviderRetryableError) as caught:
        make_provider(provider_timeout_seconds=0.2, provider_max_attempts=2).get_job("ftjob-1")
    assert caught.value.code == "timeout"
    assert time.monotonic() - started < 1.5, "each attempt must give up at the timeout, not wait for the answer"


def test_401_message_is_redacted_and_the_key_never_reaches_any_log(
    server: ScriptedServer, make_provider: MakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    key = "sk-proj-PLANTEDsecret0123456789abcdefXYZ"
    echoed = f"Incorrect API key provided: {key[:8]}{'*' * 20}{key[-4:]}. You can find your API key at x."
    server.answer("GET", JOB_PATH, 401, payloads.error(echoed, code="invalid_api_key"))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ProviderFinalError) as caught:
        make_provider(api_key=key).get_job("ftjob-1")
    logging.getLogger("tests").error("job failed: %s", caught.value)
    text = caplog.text + str(caught.value) + repr(caught.value)
    assert caplog.text, "DEBUG logging of the SDK and HTTP stack was on; something must have been logged"
    for fragment in (key, "PLANTED", "XYZ"):
        assert fragment not in text
    assert caught.value.message.startswith("Incorrect API key provided: ")
    assert server.calls_to("GET", JOB_PATH)[0].headers["authorization"] == f"Bearer {key}"


@pytest.mark.parametrize(
    ("message", "conflict"),
    [
        ("Job ftjob-1 has already completed.", True),
        ("Fine-tuning job has already been cancelled", True),
        ("Cannot cancel a job that has succeeded.", True),
        ("Job is not running and cannot be paused", True),
        ("Job must be paused to resume; its status is succeeded.", True),
        ("Job ftjob-1 is in a terminal state", True),
        ("Invalid value for 'fine_tuning_job_id'.", False),
        ("Missing required parameter: 'model'.", False),
    ],
)
def test_state_conflict_heuristic(message: str, conflict: bool) -> None:
    assert is_state_conflict(400, None, message) is conflict


def test_cancel_of_a_finished_job_is_a_conflict_not_a_bad_request(
    server: ScriptedServer, make_provider: MakeProvider
) -> None:
    server.answer("POST", f"{JOB_PATH}/cancel", 400, payloads.error("Job ftjob-1 has already completed."))
    server.answer("POST", f"{JOB_PATH}/pause", 400, payloads.error("Invalid value for 'fine_tuning_job_id'."))
    provider = make_provider()
    with pytest.raises(ProviderConflictError):
        provider.cancel_job("ftjob-1")
    with pytest.raises(ProviderFinalError) as caught:
        provider.pause_job("ftjob-1")
    assert type(caught.value) is ProviderFinalError


def test_the_same_message_outside_cancel_pause_resume_stays_a_bad_request(
    server: ScriptedServer, make_provider: MakeProvider
) -> None:
    server.answer("GET", JOB_PATH, 400, payloads.error("Job ftjob-1 has already completed."))
    with pytest.raises(ProviderFinalError) as caught:
        make_provider().get_job("ftjob-1")
    assert type(caught.value) is ProviderFinalError
