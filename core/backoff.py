"""The one backoff policy: exponential with jitter, capped, honouring ``Retry-After``.

Three kinds of retry use it, each with its own parameters: provider calls inside one task
(``core.providers.retry``: full jitter, seconds), a job's next advance after a retryable provider
failure (``core.pipeline``: equal jitter, kept under the broker's visibility timeout), and webhook
redelivery (``core.webhooks``: x4 per attempt up to hours, ±10 %). The formula lives here only.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """``initial * factor^(attempt-1)``, at most ``cap``, times a random factor in ``jitter``.

    ``jitter`` is the range the ceiling is multiplied by: ``(0, 1)`` is "full jitter" (spreads
    retrying clients the most), ``(0.5, 1)`` "equal jitter" (never much sooner than planned),
    ``(0.9, 1.1)`` a light spread. ``floor`` keeps a wait from being uselessly short; ``limit``
    bounds the final wait even when the server asked for longer (``None``: the caller decides
    what to do with a long ``Retry-After``).
    """

    initial: float
    cap: float
    factor: float = 2.0
    jitter: tuple[float, float] = (0.0, 1.0)
    floor: float = 0.0
    limit: float | None = None

    def ceiling(self, attempt: int) -> float:
        """The un-jittered wait before retry number ``attempt`` (1 = the first retry)."""
        return float(min(self.cap, self.initial * self.factor ** max(0, attempt - 1)))

    def delay(self, attempt: int, *, retry_after: float | None = None) -> float:
        """Seconds to wait before retry ``attempt``: the backoff, or what the server asked if longer."""
        ceiling = self.ceiling(attempt)
        low, high = self.jitter
        wait = max(self.floor, random.uniform(ceiling * low, ceiling * high))
        if retry_after is not None and retry_after > wait:
            wait = retry_after
        return wait if self.limit is None else min(wait, self.limit)
