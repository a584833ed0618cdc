"""``FineTuner``: the blocking client. Keeps the call shape people already write::

    ft = FineTuner(wandb_project="my-wandb-project")
    job_id = ft.create_fine_tune_job(train_file_id, valid_file_id, base_model="gpt-4o-mini", n_epochs=1,
                                     suffix="pricer")
    ft.wait(job_id, progress=True)
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from typing import Any, TypeVar, overload

import httpx
from pydantic import BaseModel

from finetuner.client import transport
from finetuner.client.config import DEFAULT_TIMEOUT, ClientConfig, resolve
from finetuner.client.errors import WaitTimeout
from finetuner.client.models import (
    Checkpoint,
    ComparedJob,
    Dataset,
    Evaluation,
    Event,
    Job,
    MetricPoint,
    MetricSeries,
    StreamMessage,
    Transition,
)
from finetuner.client.progress import WatchState, render

M = TypeVar("M", bound=BaseModel)
PathOrId = str | os.PathLike[str]
CHILD_PAGE = 1000  # the API's page limit for a job's events, transitions and metrics
LIST_PAGE = 100


class FineTuner:
    """A client of one finetuner service. Thread-safe as httpx.Client is; close it or use ``with``."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, wandb_project: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, max_retries: int | None = None,
                 http_client: httpx.Client | None = None) -> None:
        self.config: ClientConfig = resolve(base_url, api_key, timeout=timeout, max_retries=max_retries,
                                            wandb_project=wandb_project)
        self._http = http_client or httpx.Client(base_url=self.config.base_url, timeout=timeout)
        self._http.headers.update(transport.headers(self.config))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FineTuner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport --------------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request with retries on 429/5xx and transport errors, honouring ``Retry-After``."""
        attempt = 0
        while True:
            response: httpx.Response | None = None
            error: Exception | None = None
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                error = exc
            attempt += 1
            if attempt > self.config.max_retries or not transport.should_retry(response, error):
                break
            delay = transport.backoff(attempt, response)
            if delay is None:
                break
            time.sleep(delay)
        if response is None:
            assert error is not None
            raise error
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return transport.parse(self._send(method, path, **kwargs))

    def _create(self, path: str, **kwargs: Any) -> Any:
        """A POST that creates: one Idempotency-Key for all its retries, so a lost answer creates nothing twice."""
        headers = {"Idempotency-Key": transport.idempotency_key(), **kwargs.pop("headers", {})}
        return self._json("POST", path, headers=headers, **kwargs)

    def _pages(self, path: str, model: type[M], *, limit: int, params: dict[str, Any] | None = None,
               after: str | None = None) -> Iterator[M]:
        """Every item of a cursor-paged list (``{data, has_more}`` + ``after``), fetched a page at a time."""
        while True:
            query = {**(params or {}), "limit": limit, **({"after": after} if after else {})}
            page = self._json("GET", path, params=query)
            for item in page["data"]:
                yield model.model_validate(item)
            if not page["has_more"] or not page["data"]:
                return
            after = str(page["data"][-1]["id"])

    # --- datasets -----------------------------------------------------------------------------------

    def upload_dataset(self, path_or_bytes: str | os.PathLike[str] | bytes, *, name: str | None = None,
                       format: str | None = None, model: str | None = None, system_prompt: str | None = None,
                       columns: str | None = None) -> Dataset:
        """Upload and validate a dataset. An invalid one is stored too (``status="invalid"``, with its report)."""
        upload = transport.upload_parts(path_or_bytes, name=name, format=format, model=model,
                                        system_prompt=system_prompt, columns=columns)
        body = self._create("/v1/datasets", files={"file": (upload.filename, upload.content, "application/jsonl")},
                            data=upload.form or None)
        return Dataset.model_validate(body)

    def get_dataset(self, dataset_id: str) -> Dataset:
        return Dataset.model_validate(self._json("GET", f"/v1/datasets/{dataset_id}"))

    def list_datasets(self) -> Iterator[Dataset]:
        return self._pages("/v1/datasets", Dataset, limit=LIST_PAGE)

    def _dataset_id(self, value: PathOrId | None) -> str | None:
        if value is None:
            return None
        if transport.looks_like_path(value):
            return self.upload_dataset(value).id
        return str(value)

    # --- jobs ---------------------------------------------------------------------------------------

    def create_fine_tune_job(self, train_file_id: PathOrId, valid_file_id: PathOrId | None = None, *,
                             base_model: str = "gpt-4o-mini", n_epochs: int | str | None = None,
                             batch_size: int | str | None = None,
                             learning_rate_multiplier: float | str | None = None, suffix: str | None = None,
                             seed: int | None = None, **extra: Any) -> str:
        """Start a fine-tune and return its job id. A path instead of an id is uploaded first.

        ``extra`` goes into the body as is (``metadata``, ``method``, ``wandb``...); the constructor's
        ``wandb_project`` is used when no ``wandb`` is given.
        """
        train = self._dataset_id(train_file_id)
        assert train is not None
        body = transport.job_body(self.config, train, self._dataset_id(valid_file_id), base_model=base_model,
                                  n_epochs=n_epochs, batch_size=batch_size,
                                  learning_rate_multiplier=learning_rate_multiplier, suffix=suffix, seed=seed,
                                  extra=dict(extra))
        return str(self._create("/v1/jobs", json=body)["id"])

    def get_job(self, job_id: str) -> Job:
        return Job.model_validate(self._json("GET", f"/v1/jobs/{job_id}"))

    def list_jobs(self, status: str | None = None) -> Iterator[Job]:
        """Every job, newest first, fetched a page at a time as the iterator is consumed."""
        return self._pages("/v1/jobs", Job, limit=LIST_PAGE, params={"status": status} if status else None)

    def transitions(self, job_id: str) -> list[Transition]:
        return list(self._pages(f"/v1/jobs/{job_id}/transitions", Transition, limit=CHILD_PAGE))

    def checkpoints(self, job_id: str) -> list[Checkpoint]:
        return list(self._pages(f"/v1/jobs/{job_id}/checkpoints", Checkpoint, limit=100))

    @overload
    def metrics(self, job_id: str) -> list[MetricPoint]: ...

    @overload
    def metrics(self, job_id: str, *, max_points: int) -> MetricSeries: ...

    def metrics(self, job_id: str, *, max_points: int | None = None) -> list[MetricPoint] | MetricSeries:
        """Every loss-curve point, oldest first; with ``max_points``, each series downsampled by the server."""
        if max_points is not None:
            return MetricSeries.model_validate(self._json("GET", f"/v1/jobs/{job_id}/metrics",
                                                          params={"max_points": max_points}))
        return list(self._pages(f"/v1/jobs/{job_id}/metrics", MetricPoint, limit=CHILD_PAGE))

    def metrics_csv(self, job_id: str) -> Iterator[bytes]:
        """All points as CSV, streamed (``?format=csv``)."""
        with self._http.stream("GET", f"/v1/jobs/{job_id}/metrics", params={"format": "csv"}) as response:
            if not response.is_success:
                response.read()
                transport.parse(response)
            yield from response.iter_bytes()

    def events(self, job_id: str, *, follow: bool = False, poll_interval: float = 1.0,
               after: str | None = None) -> Iterator[Event]:
        """A job's events, oldest first; with ``follow``, keeps tailing until the job has ended."""
        while True:
            finished = follow and self.get_job(job_id).done  # read before the page: nothing after it is missed
            for event in self._pages(f"/v1/jobs/{job_id}/events", Event, limit=CHILD_PAGE, after=after):
                after = event.id
                yield event
            if not follow or finished:
                return
            time.sleep(poll_interval)

    def stream(self, job_id: str, *, last_event_id: str | None = None) -> Iterator[StreamMessage]:
        """``/v1/jobs/{id}/stream`` as messages; reconnects with ``Last-Event-ID`` until the job ends."""
        decoder = transport.SSEDecoder()
        decoder.last_event_id = last_event_id
        attempt = 0
        while True:
            headers = {"Accept": "text/event-stream"}
            if decoder.last_event_id:
                headers["Last-Event-ID"] = decoder.last_event_id
            try:
                with self._http.stream("GET", f"/v1/jobs/{job_id}/stream", headers=headers,
                                       timeout=httpx.Timeout(self.config.timeout, read=None)) as response:
                    if not response.is_success:
                        response.read()
                        transport.parse(response)
                    attempt = 0
                    for message in decoder.decode(response.iter_lines()):
                        yield message
                        if message.event == "end":
                            return
            except httpx.TransportError:
                attempt += 1
                if attempt > self.config.max_retries:
                    raise
                time.sleep(transport.backoff(attempt, None) or 1.0)

    def cancel(self, job_id: str) -> Job:
        return Job.model_validate(self._json("POST", f"/v1/jobs/{job_id}/cancel"))

    def pause(self, job_id: str) -> Job:
        return Job.model_validate(self._json("POST", f"/v1/jobs/{job_id}/pause"))

    def resume(self, job_id: str) -> Job:
        return Job.model_validate(self._json("POST", f"/v1/jobs/{job_id}/resume"))

    def wait(self, job_id: str, *, progress: bool = False, timeout: float | None = None,
             poll_interval: float = 1.0, console: Any | None = None) -> Job:
        """Block until the job ends; returns it. ``progress=True`` draws a live view on stderr (or ``console``)."""
        state = WatchState(job_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        live = None
        if progress:
            from rich.console import Console
            from rich.live import Live

            live = Live(render(state), console=console or Console(file=sys.stderr), refresh_per_second=4,
                        transient=False)
            live.start()
        try:
            while True:
                state.apply_job(self.get_job(job_id))
                for point in self._pages(f"/v1/jobs/{job_id}/metrics", MetricPoint, limit=CHILD_PAGE,
                                         after=state.last_metric_id):
                    state.apply_metric(point)
                if progress:
                    for event in self._pages(f"/v1/jobs/{job_id}/events", Event, limit=CHILD_PAGE,
                                             after=state.last_event_id):
                        state.apply_event(event)
                if live is not None:
                    live.update(render(state), refresh=True)
                if state.done:
                    assert state.job is not None
                    return state.job
                if deadline is not None and time.monotonic() > deadline:
                    raise WaitTimeout(f"job {job_id} is still {state.status} after {timeout} s")
                time.sleep(poll_interval)
        finally:
            if live is not None:
                live.stop()

    # --- evaluations and comparisons ----------------------------------------------------------------

    def evaluate(self, job_id: str, test_file_id: PathOrId, *, task: str, compare_with: list[str] | None = None,
                 **options: Any) -> Evaluation:
        """Start an evaluation of ``job_id``'s model on a held-out dataset (a path is uploaded first).

        ``task`` is ``number``, ``label``, ``text`` or ``json``; ``compare_with`` adds ``base``, job or
        checkpoint ids or other models (the baseline is always reported); ``options`` go into the body
        as is (``metrics``, ``models="checkpoints"``, ``rank_by``, ``max_examples``, ``max_cost_usd``,
        ``endpoint`` when the job's ``serving.endpoint_required``: the endpoint you deployed...).
        Returns at once, ``queued``: poll :meth:`get_evaluation` until ``done``.
        """
        dataset_id = self._dataset_id(test_file_id)
        assert dataset_id is not None
        body: dict[str, Any] = {"dataset_id": dataset_id, "task": task, **options}
        if compare_with is not None:
            body["compare_with"] = list(compare_with)
        return Evaluation.model_validate(self._create(f"/v1/jobs/{job_id}/evaluations", json=body))

    def get_evaluation(self, evaluation_id: str) -> Evaluation:
        return Evaluation.model_validate(self._json("GET", f"/v1/evaluations/{evaluation_id}"))

    def compare(self, *job_ids: str) -> list[ComparedJob]:
        """Runs side by side, in the order given: hyperparameters, tokens, cost, duration, final and best
        losses with their steps, and each run's newest succeeded evaluation."""
        body = self._json("GET", "/v1/jobs/compare", params={"ids": ",".join(job_ids)})
        return [ComparedJob.model_validate(row) for row in body["data"]]
