"""finetuner: ``from finetuner import FineTuner`` for programs, the ``finetuner`` command for people.

The client is imported lazily (PEP 562) so that ``finetuner validate`` and the other offline
commands start without loading httpx and the client's models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from finetuner.client import (
        APIError,
        AsyncFineTuner,
        BadRequest,
        ComparedJob,
        Conflict,
        Evaluation,
        FineTuner,
        FineTunerError,
        Invalid,
        Job,
        NotFound,
        RateLimited,
        ServerError,
        Unauthorized,
        WaitTimeout,
    )

__all__ = [
    "APIError", "AsyncFineTuner", "BadRequest", "ComparedJob", "Conflict", "Evaluation", "FineTuner",
    "FineTunerError", "Invalid", "Job", "NotFound", "RateLimited", "ServerError", "Unauthorized", "WaitTimeout",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from finetuner import client

        return getattr(client, name)
    raise AttributeError(f"module 'finetuner' has no attribute {name!r}")
