"""Settings of one emulator instance: identity, speed, seed, webhooks and the fault profile.

A pydantic model (not pydantic-settings): the emulator is configured by its caller — the CLI, the
service's embedded mode or a test — never implicitly by the environment, so two instances in one
process cannot leak configuration into each other.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

#: Wall seconds per simulated second when nothing else is said. Fast enough that a 100-example,
#: 3-epoch job finishes in well under 2 s, which is what tests need.
TEST_TIME_SCALE = 0.002
#: ``python -m emulator``'s default: a 100-example job takes about 10 s, slow enough to watch.
CLI_TIME_SCALE = 0.05


class FaultRule(BaseModel):
    """"Fail the next ``count`` calls to ``path``": a deterministic fault for a test.

    ``path`` is a glob (``fnmatch``, so ``*`` also crosses ``/``) over the path relative to the
    emulator's root, e.g. ``/fine_tuning/jobs/*``. ``status`` 200 with a ``delay`` makes a slow
    but successful call (a response past a client's timeout). ``lose_answer`` does the work first
    (the file is stored, the job created) and only then holds the answer for ``delay`` seconds:
    "created at the provider, but the answer never reached us".
    """

    model_config = ConfigDict(extra="forbid")

    path: str
    status: int = Field(ge=200, le=599)
    count: int = Field(default=1, ge=1)
    retry_after: float | None = Field(default=None, ge=0)
    method: str | None = None
    delay: float = Field(default=0.0, ge=0)
    lose_answer: bool = False


class FaultProfile(BaseModel):
    """Random faults, reproducible from the emulator's seed, plus deterministic rules.

    Rates are probabilities per request (drawn in request order from a generator seeded with
    ``EmulatorSettings.seed``); they apply to paths matching one of ``paths``.
    ``job_failure_rate`` is drawn once per created job (in creation order); a job chosen to fail
    fails mid-run with ``job_failure_code``. ``rate_answer_lost`` applies to POSTs only: the work is
    done, then the answer is held ``answer_lost_seconds`` (past the client's timeout).
    """

    model_config = ConfigDict(extra="forbid")

    rate_429: float = Field(default=0.0, ge=0, le=1)
    rate_500: float = Field(default=0.0, ge=0, le=1)
    rate_503: float = Field(default=0.0, ge=0, le=1)
    rate_slow: float = Field(default=0.0, ge=0, le=1)
    slow_seconds: float = Field(default=30.0, ge=0, description="wall seconds a slow response waits")
    rate_answer_lost: float = Field(default=0.0, ge=0, le=1, description="POSTs done, then their answer held")
    answer_lost_seconds: float = Field(default=30.0, ge=0, description="wall seconds a lost answer is held")
    retry_after: float = Field(default=1.0, ge=0, description="Retry-After of random 429s, seconds")
    paths: list[str] = Field(default_factory=lambda: ["*"])
    job_failure_rate: float = Field(default=0.0, ge=0, le=1)
    job_failure_code: str = "server_error"
    job_failure_message: str = "The job failed due to an internal error. Please try again."
    rules: list[FaultRule] = Field(default_factory=list)

    @classmethod
    def parse(cls, text_or_path: str) -> FaultProfile:
        """Accept inline JSON or the path of a JSON file (what ``--fault-profile`` receives)."""
        stripped = text_or_path.strip()
        raw = stripped if stripped.startswith("{") else Path(stripped).read_text(encoding="utf-8")
        return cls.model_validate(json.loads(raw))


class EmulatorSettings(BaseModel):
    """Everything one emulator instance needs; defaults are the fast test set-up."""

    model_config = ConfigDict(extra="forbid")

    api_key: str | None = Field(default=None, description="required bearer; None accepts any non-empty one")
    time_scale: float = Field(default=TEST_TIME_SCALE, gt=0, description="wall seconds per simulated second")
    seed: int = 0
    organization: str = Field(default="emulator", description="the {org} of ft:{model}:{org}:{suffix}:{id}")
    organization_id: str = "org-emulator"
    webhook_url: str | None = None
    webhook_secret: str | None = Field(default=None, description="whsec_… Standard Webhooks secret")
    webhook_retry_delays: tuple[float, ...] = Field(
        default=(0.2, 1.0, 3.0), description="wall seconds before each retry of a failing receiver"
    )
    webhook_timeout: float = 5.0
    faults: FaultProfile = Field(default_factory=FaultProfile)
    min_examples: int = Field(default=10, ge=1, description="OpenAI refuses training files with fewer")
    tick_interval: float = Field(default=0.02, gt=0, description="wall seconds between background advances")
    state_file: Path | None = Field(default=None, description="SQLite file the state survives restarts in; "
                                    "None keeps it in memory only")
