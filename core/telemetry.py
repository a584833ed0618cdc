"""Prometheus metrics: what operators graph and alert on (``GET /metrics``).

Two kinds. Counters and histograms that code moves as it works (tasks, provider calls, polling
passes, webhook deliveries) live here, one definition each. Gauges of state (jobs by status,
webhook deliveries waiting, the broker's queue depth) are read from the database and the broker at
scrape time, because the database is the truth and any API process may be scraped.

The worker runs in other processes. When ``PROMETHEUS_MULTIPROC_DIR`` is set (``make run`` sets it
under ``var/``) every process writes its samples there and ``/metrics`` adds them up; without it
each process reports its own (a separate worker host would then need its own scrape target).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

TASKS = Counter("finetuner_tasks", "Worker tasks finished, by task and outcome (ok, error, retry)",
                ["task", "outcome"])
TASK_SECONDS = Histogram("finetuner_task_duration_seconds", "Worker task run time", ["task"],
                         buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))
PROVIDER_CALLS = Counter("finetuner_provider_calls", "Provider API requests, by operation and outcome (ok, or the "
                         "error's kind: retryable, final, not_found, conflict, config)", ["operation", "outcome"])
POLL_SECONDS = Histogram("finetuner_poll_pass_duration_seconds", "One polling pass over every active job",
                         buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
WEBHOOK_DELIVERIES = Counter("finetuner_webhook_delivery_attempts", "Webhook delivery attempts by outcome",
                             ["outcome"])


def error_kind(error: BaseException | None) -> str:
    """``ok`` or the kind of a provider error, named as callers act on it (core/providers/errors.py)."""
    if error is None:
        return "ok"
    from core.providers.errors import (
        ProviderConfigError,
        ProviderConflictError,
        ProviderNotFoundError,
        ProviderRetryableError,
    )

    for cls, kind in ((ProviderRetryableError, "retryable"), (ProviderNotFoundError, "not_found"),
                      (ProviderConflictError, "conflict"), (ProviderConfigError, "config")):
        if isinstance(error, cls):
            return kind
    return "final"


class StateCollector(Collector):
    """Gauges read at scrape time: ``read()`` returns {name: (help, labels, [(label values, value)])}."""

    def __init__(self, read: Callable[[], dict[str, tuple[str, list[str], list[tuple[list[str], float]]]]]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            families = self._read()
        except Exception as exc:  # a scrape must answer even while the database is down
            log.warning("metrics: state gauges unavailable: %s", type(exc).__name__)
            families = {}
        for name, (help_text, labels, samples) in families.items():
            family = GaugeMetricFamily(name, help_text, labels=labels)
            for values, value in samples:
                family.add_metric(values, value)
            yield family


def exposition(state: StateCollector | None = None) -> bytes:
    """The text format of every metric: this process's (or all processes' in multiprocess mode) and the state."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        live = generate_latest(registry)
    else:
        live = generate_latest(REGISTRY)
    if state is None:
        return live
    extra = CollectorRegistry(auto_describe=False)
    extra.register(state)
    return live + generate_latest(extra)
