"""Auth, SDK exception mapping, and injected faults (rules, seeded rates, job failures)."""

from __future__ import annotations

import time

import httpx2
import openai
import pytest

from emulator import EmulatorSettings, FaultProfile
from tests.emulator.helpers import start_job, wait_for_status
from tests.emulator.server import EmulatorFactory, RunningEmulator


def test_a_wrong_api_key_is_an_authentication_error(emu: RunningEmulator) -> None:
    bad = emu.client(api_key="sk-wrong-key-1234")
    with pytest.raises(openai.AuthenticationError) as caught:
        bad.files.list()
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert "sk-wrong-key-1234" not in caught.value.message, "the key must be masked"


def test_a_missing_api_key_is_an_authentication_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        client.fine_tuning.jobs.list(extra_headers={"Authorization": openai.omit})
    assert "didn't provide an API key" in caught.value.message


def test_any_non_empty_key_is_accepted_when_none_is_configured(tracked_server: EmulatorFactory) -> None:
    open_emu = tracked_server(EmulatorSettings(api_key=None))
    assert open_emu.client(api_key="whatever").files.list().data == []


def test_unknown_model_in_chat_is_a_not_found_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="ft:gpt-4o-mini-2024-07-18:emulator::nope",
                                       messages=[{"role": "user", "content": "hi"}])
    assert caught.value.code == "model_not_found"


def test_a_429_is_retried_by_the_sdk_honouring_retry_after(emu: RunningEmulator, client: openai.OpenAI) -> None:
    emu.state.inject("/files", 429, count=1, retry_after=1, method="GET")
    emu.state.reset_calls()
    started = time.monotonic()
    client.files.list()
    elapsed = time.monotonic() - started
    assert [c.path for c in emu.state.calls] == ["/files", "/files"]
    assert elapsed >= 0.95, f"retried after {elapsed:.2f}s, before the 1 s Retry-After (SDK backoff is ≤ 0.5 s)"


def test_a_429_carries_retry_after_and_rate_limit_headers(emu: RunningEmulator) -> None:
    no_retry = emu.client(max_retries=0)
    emu.state.inject("/fine_tuning/jobs", 429, count=1, retry_after=0.25)
    with pytest.raises(openai.RateLimitError) as caught:
        no_retry.fine_tuning.jobs.list()
    headers = caught.value.response.headers
    assert headers["retry-after"] == "1" and headers["retry-after-ms"] == "250"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert {"x-ratelimit-limit-tokens", "x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"} <= set(headers)
    assert caught.value.code == "rate_limit_exceeded"


def test_5xx_are_retried_and_surface_when_they_persist(emu: RunningEmulator) -> None:
    client = emu.client(max_retries=2)
    emu.state.inject("/fine_tuning/jobs/*", 503, count=2, retry_after=0.01)
    job = start_job(client)
    assert client.fine_tuning.jobs.retrieve(job.id).id == job.id
    emu.state.inject("/fine_tuning/jobs/*", 500, count=3, retry_after=0.01)
    with pytest.raises(openai.InternalServerError) as caught:
        client.fine_tuning.jobs.retrieve(job.id)
    assert caught.value.status_code == 500
    client.fine_tuning.jobs.cancel(job.id)


def test_a_slow_response_times_out_the_client(emu: RunningEmulator) -> None:
    impatient = emu.client(timeout=0.2, max_retries=0)
    emu.state.inject("/files", 200, count=1, method="GET", delay=1.0)
    with pytest.raises(openai.APITimeoutError):
        impatient.files.list()
    assert emu.client().files.list() is not None  # the rule was used up


@pytest.mark.parametrize("kind", ["file", "job"])
def test_a_lost_answer_completes_the_work_at_the_provider_but_the_client_times_out(
        emu: RunningEmulator, kind: str) -> None:
    impatient = emu.client(timeout=0.3, max_retries=0)
    training = emu.client().files.create(file=("t.jsonl", b"{}\n" * 12), purpose="fine-tune")
    path = "/files" if kind == "file" else "/fine_tuning/jobs"
    served = emu.state.faults.served["answer_lost"]
    emu.state.faults.inject(path, 200, count=1, method="POST", delay=1.0, lose_answer=True)
    before = {f.id for f in emu.client().files.list()}, {j.id for j in emu.client().fine_tuning.jobs.list()}
    def lose_the_answer() -> object:
        if kind == "file":
            return impatient.files.create(file=("lost.jsonl", b"{}\n"), purpose="fine-tune")
        return impatient.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=training.id)

    with pytest.raises(openai.APITimeoutError):
        lose_the_answer()
    after = {f.id for f in emu.client().files.list()}, {j.id for j in emu.client().fine_tuning.jobs.list()}
    created = (after[0] - before[0]) if kind == "file" else (after[1] - before[1])
    assert len(created) == 1, "the work was done at the provider although its answer never arrived"
    assert emu.state.faults.served["answer_lost"] == served + 1


def test_a_random_lost_answer_applies_to_posts_only(tracked_server: EmulatorFactory) -> None:
    emu = tracked_server(EmulatorSettings(faults=FaultProfile(rate_answer_lost=1.0, answer_lost_seconds=0.0)))
    client = emu.client()
    client.files.list()
    client.files.create(file=("a.jsonl", b"{}\n"), purpose="fine-tune")
    assert emu.state.faults.served["answer_lost"] == 1


def test_faults_can_be_injected_over_http(emu: RunningEmulator, client: openai.OpenAI) -> None:
    response = emu.control("POST", "/_emulator/faults", json={"path": "/files/*", "status": 404, "count": 1})
    assert response.status_code == 200
    uploaded = client.files.create(file=("a.jsonl", b"{}\n"), purpose="fine-tune")
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(uploaded.id)
    assert client.files.retrieve(uploaded.id).id == uploaded.id


def test_the_call_log_is_served_and_can_be_reset(emu: RunningEmulator, client: openai.OpenAI) -> None:
    emu.control("DELETE", "/_emulator/calls")
    client.fine_tuning.jobs.list(limit=3, metadata={"finetuner_job_id": "job_x"})
    calls = emu.control("GET", "/_emulator/calls").json()["data"]
    assert calls == [{"method": "GET", "path": "/fine_tuning/jobs",
                      "query": {"limit": "3", "metadata[finetuner_job_id]": "job_x"}}]


def _fault_sequence(emu: RunningEmulator, n: int) -> list[int]:
    client = emu.client(max_retries=0)
    statuses = []
    for _ in range(n):
        try:
            client.files.list()
            statuses.append(200)
        except openai.APIStatusError as exc:
            statuses.append(exc.status_code)
    return statuses


def test_random_faults_are_reproducible_from_the_seed(tracked_server: EmulatorFactory) -> None:
    profile = FaultProfile(rate_429=0.2, rate_500=0.1, rate_503=0.1, retry_after=0.01, paths=["/files"])
    runs = [_fault_sequence(tracked_server(EmulatorSettings(api_key="k", seed=7, faults=profile)), 40)
            for _ in range(2)]
    assert runs[0] == runs[1]
    assert {429, 500, 503, 200} <= set(runs[0])
    other = _fault_sequence(tracked_server(EmulatorSettings(api_key="k", seed=8, faults=profile)), 40)
    assert other != runs[0]


def test_profile_job_failures_fail_jobs_mid_run_with_the_code(emu: RunningEmulator, client: openai.OpenAI) -> None:
    emu.state.set_fault_profile(FaultProfile(job_failure_rate=1.0, job_failure_code="server_error"))
    job = start_job(client)
    failed = wait_for_status(client, job.id)
    assert failed.status == "failed" and failed.error is not None
    assert failed.error.code == "server_error" and failed.error.param is None
    steps = [e for e in client.fine_tuning.jobs.list_events(job.id, limit=100) if e.type == "metrics"]
    total = 20 * 5  # 20 examples → 5 epochs at batch size 1
    assert 0 < len(steps) < total, "the failure comes mid-run, after some steps"


def test_the_fault_profile_can_be_replaced_inspected_and_cleared_over_http(emu: RunningEmulator) -> None:
    profile = {"rate_503": 1.0, "paths": ["/files"], "rules": [{"path": "/fine_tuning/*", "status": 500, "count": 2}]}
    assert emu.control("PUT", "/_emulator/faults", json=profile).status_code == 200
    shown = emu.control("GET", "/_emulator/faults").json()
    assert shown["rate_503"] == 1.0 and shown["rules"][0]["count"] == 2
    with pytest.raises(openai.InternalServerError):
        emu.client(max_retries=0).files.list()
    assert emu.control("DELETE", "/_emulator/faults").status_code == 200
    assert emu.control("GET", "/_emulator/faults").json()["rules"] == []
    assert emu.client(max_retries=0).files.list() is not None


def test_control_routes_need_the_api_key_too(emu: RunningEmulator) -> None:
    response = httpx2.get(f"{emu.base_url}/_emulator/calls", headers={"Authorization": "Bearer sk-wrong"})
    assert response.status_code == 401
