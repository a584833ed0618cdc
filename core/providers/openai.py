"""The OpenAI provider (and Azure OpenAI, and any OpenAI-compatible endpoint) on the official SDK.

Each public method is one or more SDK calls, each run through :func:`call_with_retry` with the
SDK's own retries off, so attempts, waits and timeouts follow our settings only. Two calls are not
idempotent at the provider and get a guard against the lost-answer window (the request reached
the provider but its answer did not reach us: timeout, dropped connection, 5xx):

- ``upload_file``: before retrying, look for a file with the same name (the name carries the
  sha256), so a retry never stores the bytes twice;
- ``create_job``: before retrying, look for a job with the spec's tag, so a retry never pays for
  a second job.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import openai
from openai import omit

from core import telemetry
from core.config import Settings
from core.providers.base import (
    FINE_TUNE_PURPOSE,
    ChatResult,
    JobSpec,
    ProviderCheckpoint,
    ProviderEvent,
    ProviderFile,
    ProviderJob,
)
from core.providers.errors import ProviderConfigError, ProviderError
from core.providers.openai_convert import (
    chat_result_from_openai,
    checkpoint_from_openai,
    event_from_openai,
    file_from_openai,
    job_create_kwargs,
    job_from_openai,
)
from core.providers.openai_errors import map_openai_error
from core.providers.redaction import install_log_redaction, register_secret
from core.providers.retry import RetryPolicy, call_with_retry

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_AZURE_API_VERSION = "2025-04-01-preview"
# A key is mandatory for the SDK even when the server ignores it (the emulator, local servers).
PLACEHOLDER_API_KEY = "no-key-configured"
FILES_PAGE_SIZE = 10_000  # OpenAI's maximum and default for GET /files
JOBS_PAGE_SIZE = 100
CHECKPOINTS_PAGE_SIZE = 100


def _is_ambiguous(error: ProviderError) -> bool:
    """Whether the failed request may still have taken effect at the provider."""
    status = error.status_code
    return status is None or status >= 500 or status == 409


def _raw(model: Any) -> dict[str, Any]:
    return cast(dict[str, Any], model.to_dict(mode="json"))


class OpenAIProvider:
    """:class:`~core.providers.base.Provider` over an ``openai.OpenAI`` (or ``AzureOpenAI``) client."""

    def __init__(
        self,
        client: openai.OpenAI,
        *,
        name: str = "openai",
        policy: RetryPolicy | None = None,
        secrets: tuple[str, ...] = (),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self._client = client
        self._policy = policy or RetryPolicy()
        self._secrets = secrets
        self._sleep = sleep
        for secret in secrets:
            register_secret(secret)
        install_log_redaction()

    @classmethod
    def from_settings(
        cls, settings: Settings, name: str = "openai", *, sleep: Callable[[float], None] = time.sleep
    ) -> OpenAIProvider:
        """``name`` "openai" / "openai-compatible" build ``openai.OpenAI``; "azure" ``AzureOpenAI``.
        ``sleep`` is how backoff waits (tests record the waits instead of spending them)."""
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        seconds = settings.provider_timeout_seconds
        timeout = openai.Timeout(seconds, connect=min(10.0, seconds))
        http_client = openai.DefaultHttpxClient(timeout=timeout)
        client: openai.OpenAI
        try:
            if name == "azure":
                if not settings.azure_openai_endpoint:
                    raise ProviderConfigError("azure provider needs FINETUNER_AZURE_OPENAI_ENDPOINT")
                client = openai.AzureOpenAI(
                    azure_endpoint=settings.azure_openai_endpoint,
                    api_version=settings.azure_openai_api_version or DEFAULT_AZURE_API_VERSION,
                    api_key=key,
                    max_retries=0,
                    timeout=timeout,
                    http_client=http_client,
                )
            elif name in ("openai", "openai-compatible"):
                if key is None and not settings.openai_base_url:
                    raise ProviderConfigError("OPENAI_API_KEY is not set (and no OPENAI_BASE_URL to a keyless server)")
                if name == "openai-compatible" and not settings.openai_base_url:
                    raise ProviderConfigError("openai-compatible provider needs OPENAI_BASE_URL")
                client = openai.OpenAI(
                    api_key=key or PLACEHOLDER_API_KEY,
                    base_url=settings.openai_base_url,
                    max_retries=0,
                    timeout=timeout,
                    http_client=http_client,
                )
            else:
                raise ProviderConfigError(f"unknown provider {name!r}")
        except openai.OpenAIError as error:
            http_client.close()
            raise map_openai_error(error, operation="configure", secrets=(key,)) from None
        except ProviderConfigError:
            http_client.close()
            raise
        return cls(
            client, name=name, policy=RetryPolicy.from_settings(settings), secrets=(key,) if key else (), sleep=sleep
        )

    # -- plumbing ---------------------------------------------------------------------------------

    def _once(self, operation: str, call: Callable[[], T]) -> T:
        try:
            result = call()
        except openai.OpenAIError as error:
            mapped = map_openai_error(error, operation=operation, secrets=self._secrets)
            telemetry.PROVIDER_CALLS.labels(operation, telemetry.error_kind(mapped)).inc()
            raise mapped from None
        telemetry.PROVIDER_CALLS.labels(operation, "ok").inc()
        return result

    def _call(self, operation: str, call: Callable[[], T], adopt: Callable[[], T | None] | None = None) -> T:
        def attempt(_number: int, previous: ProviderError | None) -> T:
            if adopt is not None and previous is not None and _is_ambiguous(previous):
                found = adopt()
                if found is not None:
                    log.info("provider call %s: adopted the result of an earlier attempt", operation)
                    return found
            return self._once(operation, call)

        return call_with_retry(operation, attempt, self._policy, sleep=self._sleep)

    def _paged(self, operation: str, fetch: Callable[[str | None], Any], *, retry: bool = True) -> Iterator[Any]:
        """Every item of a cursor-paged list, one page request at a time, in the provider's order.

        The one paging loop (the SDK's ``SyncCursorPage.next_page_info``): ``fetch(after)`` returns
        one page; the next starts after the last item's id, until ``has_more`` is false or a page
        comes back empty. Stop iterating to stop fetching. ``retry=False`` makes each page a single
        attempt (used inside another call's retry, where retrying again would multiply the waits).
        """
        after: str | None = None
        while True:
            call = functools.partial(fetch, after)
            page = self._call(operation, call) if retry else self._once(operation, call)
            yield from page.data
            if not page.has_more or not page.data:
                return
            after = page.data[-1].id

    # -- files ------------------------------------------------------------------------------------

    def _find_file_pages(self, filename: str, purpose: str, retry: bool) -> ProviderFile | None:
        def fetch(after: str | None) -> Any:
            return self._client.files.list(purpose=purpose, limit=FILES_PAGE_SIZE, order="desc",
                                           after=after if after else omit)

        for item in self._paged("find_file", fetch, retry=retry):
            found = file_from_openai(_raw(item))
            # A file the provider marked "error" would only fail the job that used it.
            if found.filename == filename and found.purpose == purpose and found.status != "error":
                return found
        return None

    def find_file(self, filename: str, purpose: str = FINE_TUNE_PURPOSE) -> ProviderFile | None:
        return self._find_file_pages(filename, purpose, retry=True)

    def upload_file(self, path: Path, filename: str, purpose: str = FINE_TUNE_PURPOSE) -> ProviderFile:
        def upload() -> ProviderFile:
            # Opened per attempt and handed over as a file object: the HTTP client streams it in
            # 64 KiB chunks, so a 512 MB dataset never sits in memory.
            with Path(path).open("rb") as stream:
                created = self._client.files.create(file=(filename, stream), purpose=cast(Any, purpose))
            return file_from_openai(_raw(created))

        return self._call("upload_file", upload, adopt=lambda: self._find_file_pages(filename, purpose, retry=False))

    # -- jobs -------------------------------------------------------------------------------------

    def create_job(self, spec: JobSpec) -> ProviderJob:
        kwargs = job_create_kwargs(spec)

        def create() -> ProviderJob:
            return job_from_openai(_raw(self._client.fine_tuning.jobs.create(**kwargs)))

        adopt: Callable[[], ProviderJob | None] | None = None
        if spec.tag_key is not None:
            key, value = spec.tag_key, spec.metadata[spec.tag_key]
            adopt = lambda: self._find_job_pages(key, value, retry=False)  # noqa: E731
        return self._call("create_job", create, adopt=adopt)

    def _find_job_pages(self, key: str, value: str, retry: bool) -> ProviderJob | None:
        def fetch(after: str | None) -> Any:
            return self._client.fine_tuning.jobs.list(metadata={key: value}, limit=JOBS_PAGE_SIZE,
                                                      after=after if after else omit)

        for item in self._paged("find_job_by_tag", fetch, retry=retry):
            job = job_from_openai(_raw(item))
            # Checked here too: a compatible server that ignores the filter must not make us
            # adopt somebody else's job.
            if job.metadata.get(key) == value:
                return job
        return None

    def find_job_by_tag(self, key: str, value: str) -> ProviderJob | None:
        return self._find_job_pages(key, value, retry=True)

    def get_job(self, job_id: str) -> ProviderJob:
        return self._call("get_job", lambda: job_from_openai(_raw(self._client.fine_tuning.jobs.retrieve(job_id))))

    def list_jobs_page(self, after: str | None, limit: int = JOBS_PAGE_SIZE) -> tuple[list[ProviderJob], bool]:
        page = self._call(
            "list_jobs_page",
            lambda: self._client.fine_tuning.jobs.list(limit=limit, after=after if after else omit),
        )
        return [job_from_openai(_raw(item)) for item in page.data], bool(page.has_more)

    def cancel_job(self, job_id: str) -> ProviderJob:
        return self._call("cancel_job", lambda: job_from_openai(_raw(self._client.fine_tuning.jobs.cancel(job_id))))

    # Pause and resume are made on the request path: one attempt, bounded by the client's timeout,
    # so a failing provider answers the client (503) instead of holding its request for minutes.
    def pause_job(self, job_id: str) -> ProviderJob:
        return self._once("pause_job", lambda: job_from_openai(_raw(self._client.fine_tuning.jobs.pause(job_id))))

    def resume_job(self, job_id: str) -> ProviderJob:
        return self._once("resume_job", lambda: job_from_openai(_raw(self._client.fine_tuning.jobs.resume(job_id))))

    # -- events and checkpoints -------------------------------------------------------------------

    def iter_events_newest_first(self, job_id: str, page_size: int = 100) -> Iterator[ProviderEvent]:
        """Events newest first, one page request at a time; stop iterating to stop fetching."""
        def fetch(after: str | None) -> Any:
            return self._client.fine_tuning.jobs.list_events(job_id, limit=page_size, after=after if after else omit)

        for item in self._paged("list_events", fetch):
            yield event_from_openai(_raw(item))

    def list_events_since(self, job_id: str, known_event_id: str | None, page_size: int = 100) -> list[ProviderEvent]:
        """Events newer than ``known_event_id``, oldest first (all of them when it is ``None``).

        Pages stop at the known event, so a sync costs one request while fewer than ``page_size``
        events are new. An id the provider no longer lists yields every event; the caller's unique
        (job, provider event id) key makes re-storing them harmless.
        """
        newer: list[ProviderEvent] = []
        for event in self.iter_events_newest_first(job_id, page_size):
            if event.id == known_event_id:
                break
            newer.append(event)
        newer.reverse()
        return newer

    def list_checkpoints(self, job_id: str) -> list[ProviderCheckpoint]:
        def fetch(after: str | None) -> Any:
            return self._client.fine_tuning.jobs.checkpoints.list(job_id, limit=CHECKPOINTS_PAGE_SIZE,
                                                                  after=after if after else omit)

        return [checkpoint_from_openai(_raw(item)) for item in self._paged("list_checkpoints", fetch)]

    # -- inference --------------------------------------------------------------------------------

    def chat_completion(self, model: str, messages: list[dict[str, Any]], **params: Any) -> ChatResult:
        if params.get("stream"):
            raise ValueError("chat_completion returns whole answers; streaming is not supported")

        def complete() -> ChatResult:
            answer = self._client.chat.completions.create(model=model, messages=cast(Any, messages), **params)
            return chat_result_from_openai(_raw(answer))

        return self._call("chat_completion", complete)

    def close(self) -> None:
        self._client.close()
