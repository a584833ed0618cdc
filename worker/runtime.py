"""The objects a task works with, built once per process from the settings.

Tasks stay thin ("a task parses and calls core"): they ask here for the pipeline or the syncer,
call one method and turn its outcome into Celery terms (retry, skip).
"""

from __future__ import annotations

from functools import lru_cache

from core.config import get_settings
from core.db import get_sessionmaker
from core.evaluation.runner import EvaluationRunner
from core.pipeline import Pipeline
from core.providers import get_provider
from core.storage import BlobStore
from core.sync import Syncer
from worker.celery_app import max_retry_delay


@lru_cache(maxsize=1)
def pipeline() -> Pipeline:
    settings = get_settings()
    return Pipeline(get_sessionmaker(settings.database_url), provider_for=get_provider,
                    store=BlobStore(settings.storage_path), lock_dir=settings.var_dir / "locks",
                    max_attempts=settings.max_advance_attempts, max_retry_delay=max_retry_delay(settings))


@lru_cache(maxsize=1)
def syncer() -> Syncer:
    settings = get_settings()
    return Syncer(get_sessionmaker(settings.database_url), provider_for=get_provider,
                  lock_dir=settings.var_dir / "locks")


@lru_cache(maxsize=1)
def evaluations() -> EvaluationRunner:
    settings = get_settings()
    budget = max(10.0, settings.task_time_limit_seconds - 60.0)  # end a slice before the hard limit, then re-send
    return EvaluationRunner(get_sessionmaker(settings.database_url), provider_for=get_provider,
                            lease_seconds=settings.evaluation_lease_seconds,
                            max_concurrency=settings.evaluation_max_concurrency, budget_seconds=budget)


def reset() -> None:
    """Forget what was built (a forked child, or a test that changed the settings)."""
    pipeline.cache_clear()
    evaluations.cache_clear()
    syncer.cache_clear()
