"""The provider layer: every call to a fine-tuning provider goes through here (DESIGN §2).

Callers ask :func:`get_provider` for a provider by name and never build SDK clients themselves,
so timeouts, retries, error mapping and secret redaction cannot be bypassed by accident.
"""

from __future__ import annotations

import os
import threading

from core.config import Settings, get_settings
from core.providers.base import (
    FINE_TUNE_PURPOSE,
    ChatResult,
    JobSpec,
    Provider,
    ProviderCheckpoint,
    ProviderEvent,
    ProviderFile,
    ProviderJob,
    ProviderJobError,
    provider_filename,
    sha256_from_provider_filename,
)
from core.providers.errors import (
    ProviderConfigError,
    ProviderConflictError,
    ProviderError,
    ProviderFinalError,
    ProviderNotFoundError,
    ProviderRetryableError,
)
from core.providers.redaction import redact

PROVIDER_NAMES = ("openai", "azure", "openai-compatible", "together")
#: What ``provider`` on ``POST /v1/jobs`` may name: an API dialect; its endpoint comes from configuration.
JOB_PROVIDERS = ("openai", "azure", "together")

__all__ = [
    "FINE_TUNE_PURPOSE",
    "JOB_PROVIDERS",
    "PROVIDER_NAMES",
    "ChatResult",
    "JobSpec",
    "Provider",
    "ProviderCheckpoint",
    "ProviderConfigError",
    "ProviderConflictError",
    "ProviderError",
    "ProviderEvent",
    "ProviderFile",
    "ProviderFinalError",
    "ProviderJob",
    "ProviderJobError",
    "ProviderNotFoundError",
    "ProviderRetryableError",
    "build_provider",
    "default_provider_name",
    "get_provider",
    "provider_filename",
    "redact",
    "reset_providers",
    "sha256_from_provider_filename",
]


def default_provider_name(settings: Settings) -> str:
    """The provider new jobs go to: Azure when its endpoint is configured, else OpenAI (or the
    OpenAI-compatible server ``OPENAI_BASE_URL`` points at, such as the emulator)."""
    return "azure" if settings.azure_openai_endpoint else "openai"


def build_provider(settings: Settings, name: str | None = None) -> Provider:
    """A new provider for ``name`` (default: :func:`default_provider_name`). The caller owns it
    and must ``close()`` it; most code wants the cached :func:`get_provider` instead."""
    chosen = name or default_provider_name(settings)
    if chosen not in PROVIDER_NAMES:
        raise ProviderConfigError(f"unknown provider {chosen!r}; known: {', '.join(PROVIDER_NAMES)}")
    if chosen == "together":
        from core.providers.together import TogetherProvider  # SDKs are heavy; import on first use

        return TogetherProvider.from_settings(settings)
    from core.providers.openai import OpenAIProvider

    return OpenAIProvider.from_settings(settings, name=chosen)


_lock = threading.Lock()
_cache: dict[tuple[int, str], Provider] = {}


def get_provider(name: str | None = None) -> Provider:
    """The process's provider for ``name``, built from :func:`core.config.get_settings` once.

    Keyed by process id too: a Celery prefork child must not reuse connections its parent opened
    before forking.
    """
    chosen = name or default_provider_name(get_settings())
    key = (os.getpid(), chosen)
    with _lock:
        provider = _cache.get(key)
        if provider is None:
            provider = build_provider(get_settings(), chosen)
            _cache[key] = provider
        return provider


def reset_providers() -> None:
    """Close and forget every cached provider (after a settings change, and in tests)."""
    with _lock:
        providers = [p for (pid, _), p in _cache.items() if pid == os.getpid()]
        _cache.clear()
    for provider in providers:
        provider.close()
