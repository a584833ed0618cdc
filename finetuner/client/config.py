"""Where the service is and which key to use, when the caller does not say.

Order: the argument, then ``FINETUNER_URL`` / ``FINETUNER_API_KEY``, then the embedded default
(``make run`` on ``http://127.0.0.1:8000``, whose key it keeps in ``var/dev-api-key``). The key
file is read only for a loopback URL, so a key meant for a local toy never goes to a remote host.
``FINETUNER_MAX_RETRIES`` sets how often 429/5xx and connection errors are retried (default 4).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_URL = "http://127.0.0.1:8000"
DEV_KEY_FILE = Path("var") / "dev-api-key"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 4
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class ClientConfig:
    base_url: str
    api_key: str | None
    timeout: float
    max_retries: int
    wandb_project: str | None


def _dev_key(base_url: str) -> str | None:
    if urlsplit(base_url).hostname not in LOOPBACK_HOSTS:
        return None
    for folder in (Path(os.environ.get("FINETUNER_VAR_DIR", "var")), DEV_KEY_FILE.parent):
        candidate = folder / DEV_KEY_FILE.name
        if candidate.is_file():
            return candidate.read_text().strip() or None
    return None


def resolve(base_url: str | None = None, api_key: str | None = None, *, timeout: float = DEFAULT_TIMEOUT,
            max_retries: int | None = None, wandb_project: str | None = None) -> ClientConfig:
    url = (base_url or os.environ.get("FINETUNER_URL") or DEFAULT_URL).rstrip("/")
    key = api_key or os.environ.get("FINETUNER_API_KEY") or _dev_key(url)
    if max_retries is None:
        max_retries = int(os.environ.get("FINETUNER_MAX_RETRIES") or DEFAULT_MAX_RETRIES)
    return ClientConfig(base_url=url, api_key=key, timeout=timeout, max_retries=max_retries,
                        wandb_project=wandb_project)
