"""Settings, read once from the environment (prefix ``FINETUNER_``, plus OpenAI's own names)."""

from __future__ import annotations

import logging
import os
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_VAR_DIR = Path("var")
log = logging.getLogger(__name__)
# Old environment names still read, each with a warning: {old: new}. "Sweep" now means the user's
# hyperparameter sweep; the periodic provider poll used to be called that.
DEPRECATED_ENV: dict[str, str] = {"FINETUNER_SWEEP_INTERVAL_SECONDS": "FINETUNER_POLL_INTERVAL_SECONDS"}


class Settings(BaseSettings):
    """Every knob of the service. Defaults are the embedded, single-machine development setup."""

    model_config = SettingsConfigDict(env_prefix="FINETUNER_", env_file=None, extra="ignore")

    environment: str = Field(default="development", description="development | test | production")
    var_dir: Path = DEFAULT_VAR_DIR
    database_url: str = ""
    broker_url: str = ""
    storage_dir: Path | None = None

    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "FINETUNER_OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL", "FINETUNER_OPENAI_BASE_URL")
    )
    openai_webhook_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_WEBHOOK_SECRET", "FINETUNER_OPENAI_WEBHOOK_SECRET"),
    )
    together_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("TOGETHER_API_KEY", "FINETUNER_TOGETHER_API_KEY")
    )
    together_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("TOGETHER_BASE_URL", "FINETUNER_TOGETHER_BASE_URL"),
        description="Together API root (without /v1); the mounted emulator's /emulator/together when no key is set",
    )
    azure_openai_endpoint: str | None = None
    azure_openai_api_version: str | None = None
    provider_timeout_seconds: float = Field(default=60.0, description="Per-request limit on provider calls")
    provider_max_attempts: int = Field(default=5, description="Attempts per provider call, the first included")
    provider_backoff_initial_seconds: float = Field(default=0.5, description="First backoff step (then doubling)")
    provider_backoff_max_seconds: float = Field(default=30.0, description="Largest single backoff wait")
    provider_retry_after_max_seconds: float = Field(
        default=60.0, description="Longest Retry-After waited in-process; longer goes back to the caller"
    )
    provider_retry_budget_seconds: float = Field(default=120.0, description="Total time one call may spend retrying")

    mount_emulator: bool = Field(
        default=True, description="Serve the OpenAI emulator at /emulator/v1 when OPENAI_API_KEY is unset"
    )
    max_upload_bytes: int = 512 * 1024 * 1024
    max_json_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="Largest JSON request body")
    max_provider_webhook_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest provider webhook body (read whole for its signature)")
    model_catalog_path: Path | None = Field(
        default=None, description="JSON file whose entries override or extend the built-in model catalog"
    )
    secret_key: SecretStr | None = Field(
        default=None, description="Key (Fernet, urlsafe base64) that encrypts webhook secrets at rest"
    )
    webhook_timeout_seconds: float = Field(default=10.0, description="Per-attempt limit for a client receiver")
    webhook_max_age_hours: float = Field(default=24.0, description="Stop retrying a delivery after this long")
    webhook_allow_loopback: bool = Field(default=False, description="Allow receivers on 127.0.0.0/8 and ::1")
    webhook_retry_base_seconds: float = Field(default=5.0, description="First retry delay; each next one x4")
    webhook_allow_private: bool = Field(default=False, description="Allow receivers on private networks")

    # Workers (worker/, core/pipeline.py, core/sync.py)
    poll_interval_seconds: float = Field(default=5.0, gt=0, description="How often beat syncs active jobs")
    reconcile_interval_seconds: float = Field(default=30.0, gt=0, description="How often beat looks for stuck jobs")
    beat_leader_ttl_seconds: float = Field(
        default=5.0, gt=0,
        description="A dead beat's leadership lapses after this long (renewed each third); another beat takes over"
    )
    job_ceiling_hours: float = Field(
        default=168.0, gt=0, description="A job with no status change for this long is ended (cancelled or failed)"
    )
    stuck_after_seconds: float = Field(
        default=120.0, gt=0, description="A job in pending/uploading/submitting/cancelling this long is re-enqueued"
    )
    max_advance_attempts: int = Field(
        default=20, ge=1, description="Retryable provider failures before a job in our own states is marked failed"
    )
    broker_visibility_timeout_seconds: int = Field(
        default=3600, ge=60, description="Redis: unacked messages come back after this; no countdown may exceed it"
    )
    log_format: Literal["text", "json"] = Field(default="text", description="json: one object per line, with "
                                                "job_id and tenant_id")
    metrics_token: str | None = Field(default=None, repr=False,
                                      description="When set, GET /metrics wants it as a Bearer token")
    stream_poll_seconds: float = Field(default=0.5, gt=0, le=30,
                                       description="How often /v1/jobs/{id}/stream looks for new rows")
    stream_keepalive_seconds: float = Field(default=15.0, gt=0, description="A comment line this often keeps "
                                            "proxies from closing a quiet stream")
    task_time_limit_seconds: int = Field(default=900, ge=10, description="Hard limit per task (uploads included)")
    worker_concurrency: int | None = Field(default=None, ge=1, description="Celery worker processes (default: CPUs)")

    # Overfitting signal (core/overfitting.py)
    overfitting_patience: int = Field(
        default=3, ge=1, description="Consecutive rises of smoothed validation loss that raise the signal")
    overfitting_min_rise: float = Field(
        default=0.15, gt=0, description="...and how far above its best (a share) validation loss must have climbed")

    # Evaluations (core/evaluation/)
    evaluation_lease_seconds: float = Field(
        default=60.0, gt=0, description="A running evaluation whose worker stopped renewing this long is resumed"
    )
    evaluation_max_concurrency: int = Field(default=16, ge=1, description="Ceiling on an evaluation's concurrency")

    @model_validator(mode="before")
    @classmethod
    def _read_deprecated_env(cls, data: Any) -> Any:
        """An old variable still applies when its new name is not set (and not passed), with a warning."""
        if not isinstance(data, dict):
            return data
        for old, new in DEPRECATED_ENV.items():
            field = new.removeprefix("FINETUNER_").lower()
            if old in os.environ and new not in os.environ and field not in data:
                message = f"{old} is deprecated; set {new} instead"
                warnings.warn(message, DeprecationWarning, stacklevel=2)
                log.warning(message)
                data = {**data, field: os.environ[old]}
        return data

    @model_validator(mode="after")
    def _fill_derived_paths(self) -> Settings:
        """Derive file locations from ``var_dir`` so one variable relocates the embedded setup."""
        if not self.database_url:
            self.database_url = f"sqlite:///{self.var_dir / 'finetuner.db'}"
        if not self.broker_url:
            self.broker_url = f"sqla+sqlite:///{self.var_dir / 'broker.db'}"
        if self.storage_dir is None:
            self.storage_dir = self.var_dir / "storage"
        if self.environment == "production" and self.secret_key is None:
            raise ValueError("FINETUNER_SECRET_KEY must be set in production")
        return self

    @property
    def storage_path(self) -> Path:
        assert self.storage_dir is not None
        return self.storage_dir


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
