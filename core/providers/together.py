"""The Together AI provider, on the official ``together`` SDK (3.x).

Same discipline as the OpenAI provider: the SDK's own retries are off (``max_retries=0``) and
every call goes through :func:`call_with_retry`, so attempts, waits and ``Retry-After`` follow our
settings; errors map onto the same four classes (retryable / final / not-found / conflict).

What differs, and how the two paid calls stay safe to repeat:

- ``upload_file``: the SDK uploads a path and names the file after it, so the dataset is linked
  under its ``finetuner-<sha256>.jsonl`` name in a temporary directory first. Before a retry the
  file list is searched by that name (Together also answers 409 with the file id when the same
  checksum is uploaded again, which the SDK turns into a retrieve).
- ``create_job``: Together has no job ``metadata``, so a short tag of our job id
  (:func:`job_tag`) rides at the end of the ``suffix`` (its 40 characters shared with the user's
  suffix). ``find_job_by_tag`` lists jobs and adopts only one whose suffix ends in exactly that
  tag; the pipeline calls it before every create, and a retried create calls it first too.

Polling: Together's job list is not paged (one call returns every job), so a polling pass costs
one list call, plus, per job that is running or changed, one events call and one metrics call
(``list_metrics``: the loss curve; Together's events carry no loss).
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
import together

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
from core.providers.errors import ProviderConfigError, ProviderConflictError, ProviderError
from core.providers.openai_convert import chat_result_from_openai
from core.providers.redaction import install_log_redaction, register_secret
from core.providers.retry import RetryPolicy, call_with_retry
from core.providers.together_convert import (
    checkpoint_from_together,
    event_from_together,
    file_from_together,
    job_create_kwargs,
    job_from_together,
    job_tag,
    metric_events,
    tag_of,
)
from core.providers.together_errors import map_together_error

log = logging.getLogger(__name__)
T = TypeVar("T")

PLACEHOLDER_API_KEY = "no-key-configured"  # the SDK insists on a key even for the emulator
_BAD_FILE_STATUSES = frozenset({"FAILED", "INVALID_FORMAT"})


def _is_ambiguous(error: ProviderError) -> bool:
    status = error.status_code
    return status is None or status >= 500 or status == 409


def _raw(model: Any) -> dict[str, Any]:
    return cast(dict[str, Any], model.to_dict(mode="json"))


class TogetherProvider:
    """:class:`~core.providers.base.Provider` over a ``together.Together`` client."""

    name = "together"

    def __init__(self, client: together.Together, *, policy: RetryPolicy | None = None,
                 secrets: tuple[str, ...] = (), sleep: Callable[[float], None] = time.sleep) -> None:
        self._client = client
        self._policy = policy or RetryPolicy()
        self._secrets = secrets
        self._sleep = sleep
        for secret in secrets:
            register_secret(secret)
        install_log_redaction()

    @classmethod
    def from_settings(cls, settings: Settings, *, sleep: Callable[[float], None] = time.sleep,
                      http_client: httpx.Client | None = None) -> TogetherProvider:
        key = settings.together_api_key.get_secret_value() if settings.together_api_key else None
        if key is None and not settings.together_base_url:
            raise ProviderConfigError("TOGETHER_API_KEY is not set (and no TOGETHER_BASE_URL to a keyless server)")
        seconds = settings.provider_timeout_seconds
        timeout = httpx.Timeout(seconds, connect=min(10.0, seconds))
        client = together.Together(
            api_key=key or PLACEHOLDER_API_KEY, base_url=settings.together_base_url, max_retries=0, timeout=timeout,
            http_client=http_client or httpx.Client(timeout=timeout, follow_redirects=True),
        )
        return cls(client, policy=RetryPolicy.from_settings(settings), secrets=(key,) if key else (), sleep=sleep)

    # -- plumbing ---------------------------------------------------------------------------------

    def _once(self, operation: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except together.TogetherError as error:
            raise map_together_error(error, operation=operation, secrets=self._secrets) from None
        except ValueError as error:  # the SDK's own argument checks (batch size, LoRA rank, ...)
            raise map_together_error(error, operation=operation, secrets=self._secrets) from None

    def _call(self, operation: str, call: Callable[[], T], adopt: Callable[[], T | None] | None = None) -> T:
        def attempt(_number: int, previous: ProviderError | None) -> T:
            if adopt is not None and previous is not None and _is_ambiguous(previous):
                found = adopt()
                if found is not None:
                    log.info("provider call %s: adopted the result of an earlier attempt", operation)
                    return found
            return self._once(operation, call)

        return call_with_retry(operation, attempt, self._policy, sleep=self._sleep)

    # -- files ------------------------------------------------------------------------------------

    def _find_file(self, filename: str, purpose: str, retry: bool) -> ProviderFile | None:
        def listing() -> Any:
            return self._client.files.list()

        page = self._call("find_file", listing) if retry else self._once("find_file", listing)
        for item in page.data:
            found = file_from_together(_raw(item))
            if found.filename == filename and found.purpose == purpose and found.status not in _BAD_FILE_STATUSES:
                return found
        return None

    def find_file(self, filename: str, purpose: str = FINE_TUNE_PURPOSE) -> ProviderFile | None:
        return self._find_file(filename, purpose, retry=True)

    def upload_file(self, path: Path, filename: str, purpose: str = FINE_TUNE_PURPOSE) -> ProviderFile:
        def upload() -> ProviderFile:
            with tempfile.TemporaryDirectory(prefix="finetuner-upload-") as directory:
                named = Path(directory) / filename
                named.symlink_to(Path(path).resolve())
                created = self._client.files.upload(file=named, purpose=cast(Any, purpose), check=False)
            return file_from_together(_raw(created))

        return self._call("upload_file", upload, adopt=lambda: self._find_file(filename, purpose, retry=False))

    # -- jobs -------------------------------------------------------------------------------------

    def _list(self, operation: str, retry: bool = True) -> list[ProviderJob]:
        def listing() -> Any:
            return self._client.fine_tuning.list()

        page = self._call(operation, listing) if retry else self._once(operation, listing)
        jobs = [job_from_together(_raw(item)) for item in page.data]
        return sorted(jobs, key=lambda j: (j.created_at, j.id), reverse=True)

    def _find_tagged(self, tag: str, retry: bool) -> ProviderJob | None:
        for job in self._list("find_job_by_tag", retry):
            if tag_of(job.suffix) == tag:
                return job
        return None

    def find_job_by_tag(self, key: str, value: str) -> ProviderJob | None:
        """``key`` is the neutral tag name (unused: Together has no metadata); ``value`` is our job id."""
        del key
        return self._find_tagged(job_tag(value), retry=True)

    def create_job(self, spec: JobSpec) -> ProviderJob:
        if spec.tag_key is None:
            raise ValueError("a Together job needs a tag (JobSpec.tag_key): it is how a lost answer is found again")
        tag = job_tag(spec.metadata[spec.tag_key])
        kwargs = job_create_kwargs(spec, tag)

        def create() -> ProviderJob:
            return job_from_together(_raw(self._client.fine_tuning.create(**kwargs)))

        return self._call("create_job", create, adopt=lambda: self._find_tagged(tag, retry=False))

    def get_job(self, job_id: str) -> ProviderJob:
        return self._call("get_job", lambda: job_from_together(_raw(self._client.fine_tuning.retrieve(job_id))))

    def list_jobs_page(self, after: str | None, limit: int = 100) -> tuple[list[ProviderJob], bool]:
        """Together's list is one unpaged answer: the first call returns everything, later ones nothing."""
        del limit
        if after is not None:
            return [], False
        return self._list("list_jobs_page"), False

    def cancel_job(self, job_id: str) -> ProviderJob:
        return self._call("cancel_job", lambda: job_from_together(_raw(self._client.fine_tuning.cancel(job_id))))

    def pause_job(self, job_id: str) -> ProviderJob:
        del job_id
        raise ProviderConflictError("Together AI jobs cannot be paused", code="unsupported")

    def resume_job(self, job_id: str) -> ProviderJob:
        del job_id
        raise ProviderConflictError("Together AI jobs cannot be paused or resumed", code="unsupported")

    # -- events, metrics and checkpoints ----------------------------------------------------------

    def _events(self, job_id: str) -> list[ProviderEvent]:
        answer = self._call("list_events", lambda: self._client.fine_tuning.list_events(job_id))
        events = [event_from_together(_raw(item)) for item in answer.data]
        metrics = self._call("list_metrics", lambda: self._client.fine_tuning.list_metrics(job_id))
        points = [dict(p) for p in (metrics.metrics or [])]
        at = max((e.created_at for e in events), default=datetime.now(UTC))
        # A stable sort by time only: metrics points share one instant and stay in step order.
        return sorted(events + metric_events(job_id, points, at), key=lambda e: e.created_at)

    def iter_events_newest_first(self, job_id: str, page_size: int = 100) -> Iterator[ProviderEvent]:
        del page_size  # unpaged: one answer holds every event
        yield from reversed(self._events(job_id))

    def list_events_since(self, job_id: str, known_event_id: str | None, page_size: int = 100) -> list[ProviderEvent]:
        """Every event and metrics point (two calls, unpaged); the sync's unique keys drop what it has."""
        del known_event_id, page_size
        return self._events(job_id)

    def list_checkpoints(self, job_id: str) -> list[ProviderCheckpoint]:
        answer = self._call("list_checkpoints", lambda: self._client.fine_tuning.list_checkpoints(job_id))
        return [checkpoint_from_together(job_id, _raw(item)) for item in answer.data]

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
