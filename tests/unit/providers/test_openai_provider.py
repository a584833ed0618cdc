"""``OpenAIProvider`` behaviour against a scripted server: reuse, adoption, paging, Azure, registry."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

import core.providers as providers
from core.config import Settings, get_settings
from core.providers import JobSpec, ProviderConfigError, provider_filename
from core.providers.openai import OpenAIProvider
from tests.unit.providers import payloads
from tests.unit.providers.conftest import Answer, ScriptedServer

MakeProvider = Callable[..., OpenAIProvider]
SHA = "ab" * 32
NAME = provider_filename(SHA)


def test_find_file_pages_through_the_list_and_matches_the_exact_name(
    server: ScriptedServer, make_provider: MakeProvider
) -> None:
    server.answer("GET", "/v1/files", 200, payloads.page(
        [payloads.file("file-1", f"x{NAME}"), payloads.file("file-2", NAME, status="error")], has_more=True))
    server.answer("GET", "/v1/files", 200, payloads.page([payloads.file("file-3", NAME)]))
    found = make_provider().find_file(NAME)
    assert found is not None and found.id == "file-3" and found.filename == NAME
    assert found.created_at.tzinfo is not None
    first, second = server.calls_to("GET", "/v1/files")
    assert first.query["purpose"] == ["fine-tune"] and "after" not in first.query
    assert second.query["after"] == ["file-2"], "the next page starts after the last id of this one"


def test_find_file_returns_none_when_no_file_has_the_name(server: ScriptedServer, make_provider: MakeProvider) -> None:
    server.answer("GET", "/v1/files", 200, payloads.page([payloads.file("file-1", "other.jsonl")]))
    assert make_provider().find_file(NAME) is None


def test_upload_streams_the_file_instead_of_loading_it(
    server: ScriptedServer, make_provider: MakeProvider, tmp_path: Path
) -> None:
    size = 24 * 1024 * 1024
    data = tmp_path / "big.jsonl"
    with data.open("wb") as out:
        for _ in range(size // (1 << 20)):
            out.write(b"x" * (1 << 20))
    server.answer("POST", "/v1/files", 200, payloads.file("file-big", NAME))
    provider = make_provider()
    tracemalloc.start()
    try:
        uploaded = provider.upload_file(data, NAME)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert uploaded.id == "file-big"
    assert server.calls_to("POST", "/v1/files")[0].body_bytes > size
    assert peak < 4 * 1024 * 1024, f"peak Python memory {peak / 2**20:.1f} MiB for a {size / 2**20:.0f} MiB upload"


def test_upload_whose_answer_was_lost_is_adopted_not_repeated(
    server: ScriptedServer, make_provider: MakeProvider, tmp_path: Path
) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text('{"messages": []}\n')
    # The first upload reached the provider (it is in the list afterwards) but answered 502.
    server.answer("POST", "/v1/files", 502, payloads.error("Bad gateway", type_="server_error"))
    server.answer("GET", "/v1/files", 200, payloads.page([payloads.file("file-stored", NAME)]))
    uploaded = make_provider().upload_file(data, NAME)
    assert uploaded.id == "file-stored"
    assert len(server.calls_to("POST", "/v1/files")) == 1


def test_upload_refused_with_429_is_simply_sent_again(
    server: ScriptedServer, make_provider: MakeProvider, tmp_path: Path
) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text('{"messages": []}\n')
    server.answer("POST", "/v1/files", 429, payloads.error("Rate limit"), headers={"retry-after-ms": "10"})
    server.answer("POST", "/v1/files", 200, payloads.file("file-new", NAME))
    assert make_provider().upload_file(data, NAME).id == "file-new"
    assert server.calls_to("GET", "/v1/files") == [], "a 429 was never processed: no lookup needed"
    first, second = server.calls_to("POST", "/v1/files")
    assert first.body_bytes == second.body_bytes, "the retry sends the whole file again, from the start"


SPEC = JobSpec(
    model="gpt-4o-mini-2024-07-18",
    training_file="file-train",
    hyperparameters={"n_epochs": 3, "batch_size": "auto"},
    suffix="demo",
    seed=7,
    metadata={"finetuner_job_id": "job_1"},
    tag_key="finetuner_job_id",
)


def test_create_whose_answer_was_lost_adopts_the_tagged_job(
    server: ScriptedServer, make_provider: MakeProvider
) -> None:
    server.answer("POST", "/v1/fine_tuning/jobs", 500, payloads.error("Internal error", type_="server_error"))
    server.answer("GET", "/v1/fine_tuning/jobs", 200, payloads.page(
        [payloads.job("ftjob-made", "validating_files", metadata={"finetuner_job_id": "job_1"})]))
    job = make_provider().create_job(SPEC)
    assert job.id == "ftjob-made"
    assert len(server.calls_to("POST", "/v1/fine_tuning/jobs")) == 1, "no second paid job"
    lookup = server.calls_to("GET", "/v1/fine_tuning/jobs")[0]
    assert lookup.query["metadata[finetuner_job_id]"] == ["job_1"]


def test_create_retries_when_the_lost_answer_created_nothing(
    server: ScriptedServer, make_provider: MakeProvider
) -> None:
    server.answer("POST", "/v1/fine_tuning/jobs", 503, payloads.error("Overloaded", type_="server_error"))
    server.answer("GET", "/v1/fine_tuning/jobs", 200, payloads.page([]))
    server.answer("POST", "/v1/fine_tuning/jobs", 200, payloads.job("ftjob-new", "validating_files",
                                                                     metadata={"finetuner_job_id": "job_1"}))
    assert make_provider().create_job(SPEC).id == "ftjob-new"
    assert len(server.calls_to("POST", "/v1/fine_tuning/jobs")) == 2


def test_find_job_by_tag_ignores_jobs_a_filter_blind_server_returns(
    server: ScriptedServer, make_provider: MakeProvider
) -> None:
    server.answer("GET", "/v1/fine_tuning/jobs", 200, payloads.page(
        [payloads.job("ftjob-other", metadata={"finetuner_job_id": "job_2"}), payloads.job("ftjob-none")],
        has_more=True))
    server.answer("GET", "/v1/fine_tuning/jobs", 200, payloads.page(
        [payloads.job("ftjob-mine", metadata={"finetuner_job_id": "job_1"})]))
    found = make_provider().find_job_by_tag("finetuner_job_id", "job_1")
    assert found is not None and found.id == "ftjob-mine"


def test_list_jobs_page_passes_the_cursor_and_reports_has_more(
    server: ScriptedServer, make_provider: MakeProvider
) -> None:
    server.answer("GET", "/v1/fine_tuning/jobs", 200, payloads.page([payloads.job("ftjob-9"), payloads.job("ftjob-8")],
                                                                    has_more=True))
    jobs, has_more = make_provider().list_jobs_page("ftjob-10", limit=2)
    assert [j.id for j in jobs] == ["ftjob-9", "ftjob-8"] and has_more is True
    call = server.calls_to("GET", "/v1/fine_tuning/jobs")[0]
    assert call.query["after"] == ["ftjob-10"] and call.query["limit"] == ["2"]


def test_events_since_a_known_id_stop_fetching_at_it_and_come_back_oldest_first(
    server: ScriptedServer, make_provider: MakeProvider
) -> None:
    path = "/v1/fine_tuning/jobs/ftjob-1/events"
    server.answer("GET", path, 200, payloads.page([payloads.event("ev-5"), payloads.event("ev-4")], has_more=True))
    server.answer("GET", path, 200, payloads.page([payloads.event("ev-3"), payloads.event("ev-2")], has_more=True))
    server.default("GET", path, lambda _call: Answer(500, payloads.error("page 3 must never be asked for")))
    events = make_provider().list_events_since("ftjob-1", "ev-3")
    assert [e.id for e in events] == ["ev-4", "ev-5"]
    assert len(server.calls_to("GET", path)) == 2


def test_checkpoints_and_metrics_are_converted(server: ScriptedServer, make_provider: MakeProvider) -> None:
    server.answer("GET", "/v1/fine_tuning/jobs/ftjob-1/checkpoints", 200, payloads.page([{
        "object": "fine_tuning.job.checkpoint", "id": "ftckpt-1", "created_at": payloads.CREATED,
        "fine_tuned_model_checkpoint": "ft:gpt-4o-mini:org:demo:ftjob-1:ckpt-step-10", "fine_tuning_job_id": "ftjob-1",
        "step_number": 10, "metrics": {"step": 10, "train_loss": 0.5, "valid_loss": None},
    }]))
    (checkpoint,) = make_provider().list_checkpoints("ftjob-1")
    assert checkpoint.step == 10 and checkpoint.metrics == {"step": 10.0, "train_loss": 0.5}


def test_chat_completion_returns_content_and_usage(server: ScriptedServer, make_provider: MakeProvider) -> None:
    server.answer("POST", "/v1/chat/completions", 200, {
        "id": "chatcmpl-1", "object": "chat.completion", "created": payloads.CREATED, "model": "ft:gpt-4o-mini:x",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Paris"}}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10,
                  "prompt_tokens_details": {"cached_tokens": 0}},
    })
    result = make_provider().chat_completion("ft:gpt-4o-mini:x", [{"role": "user", "content": "Capital?"}],
                                             temperature=0)
    assert result.content == "Paris" and result.finish_reason == "stop"
    assert result.usage == {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}


def test_azure_endpoint_selects_the_azure_client_shape(server: ScriptedServer) -> None:
    settings = Settings(openai_api_key="azure-key-0123456789abcdef", azure_openai_endpoint=server.url,
                        azure_openai_api_version="2024-10-21", provider_max_attempts=1)
    server.answer("GET", "/openai/fine_tuning/jobs/ftjob-1", 200, payloads.job())
    provider = providers.build_provider(settings)
    try:
        assert provider.name == "azure"
        assert provider.get_job("ftjob-1").id == "ftjob-1"
    finally:
        provider.close()
    call = server.calls_to("GET", "/openai/fine_tuning/jobs/ftjob-1")[0]
    assert call.query["api-version"] == ["2024-10-21"]
    assert call.headers["api-key"] == "azure-key-0123456789abcdef"


def test_openai_without_key_or_base_url_is_a_configuration_error() -> None:
    with pytest.raises(ProviderConfigError, match="OPENAI_API_KEY"):
        providers.build_provider(Settings(openai_api_key=None, openai_base_url=None))
    with pytest.raises(ProviderConfigError, match="unknown provider"):
        providers.build_provider(Settings(openai_base_url="http://127.0.0.1:1/v1"), "anthropic")


def test_keyless_compatible_server_gets_a_placeholder_key(server: ScriptedServer) -> None:
    server.answer("GET", "/v1/fine_tuning/jobs/ftjob-1", 200, payloads.job())
    provider = providers.build_provider(Settings(openai_api_key=None, openai_base_url=f"{server.url}/v1"))
    try:
        provider.get_job("ftjob-1")
    finally:
        provider.close()
    assert server.calls[0].headers["authorization"].startswith("Bearer ")


def test_registry_builds_one_provider_per_name_and_process(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("FINETUNER_AZURE_OPENAI_ENDPOINT", raising=False)
    get_settings.cache_clear()
    providers.reset_providers()
    try:
        first = providers.get_provider("openai")
        assert providers.get_provider() is first, "the default name is openai without an Azure endpoint"
        assert providers.get_provider("openai-compatible") is not first
    finally:
        providers.reset_providers()
        get_settings.cache_clear()

