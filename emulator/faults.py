"""Which request fails, and how: deterministic rules first, then seeded random rates.

Rules ("fail the next N calls to P") are consumed in the order they were added. Random faults draw
one number per eligible request from a generator seeded by the emulator's seed, so the same
request sequence meets the same faults on every run.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass
from fnmatch import fnmatchcase

from emulator.settings import FaultProfile, FaultRule


@dataclass(frozen=True)
class Fault:
    status: int  # 200: let the request through (after ``delay``)
    delay: float = 0.0
    retry_after: float | None = None
    lose_answer: bool = False  # do the work, then hold the answer ``delay`` seconds


@dataclass
class _ActiveRule:
    rule: FaultRule
    remaining: int

    def matches(self, method: str, path: str) -> bool:
        if self.rule.method is not None and self.rule.method.upper() != method.upper():
            return False
        return fnmatchcase(path, self.rule.path)


class FaultInjector:
    def __init__(self, profile: FaultProfile, seed: int) -> None:
        self._lock = threading.Lock()
        self._seed = seed
        self._profile = profile
        self._rng = random.Random(f"faults:{seed}")
        self._rules = [_ActiveRule(r, r.count) for r in profile.rules]
        self.served: Counter[str] = Counter()  # faults handed out, by kind ("429", "500", "slow"…): tests read it

    @property
    def profile(self) -> FaultProfile:
        return self._profile

    def inject(self, path_pattern: str, status: int, count: int = 1, retry_after: float | None = None,
               method: str | None = None, delay: float = 0.0, lose_answer: bool = False) -> None:
        rule = FaultRule(path=path_pattern, status=status, count=count, retry_after=retry_after,
                         method=method, delay=delay, lose_answer=lose_answer)
        with self._lock:
            self._rules.append(_ActiveRule(rule, rule.count))

    def set_profile(self, profile: FaultProfile) -> None:
        """Replace rates and rules; the random sequence restarts from the seed."""
        with self._lock:
            self._profile = profile
            self._rng = random.Random(f"faults:{self._seed}")
            self._rules = [_ActiveRule(r, r.count) for r in profile.rules]

    def clear(self) -> None:
        self.set_profile(FaultProfile())

    def pending_rules(self) -> list[FaultRule]:
        with self._lock:
            return [r.rule.model_copy(update={"count": r.remaining}) for r in self._rules if r.remaining > 0]

    def decide(self, method: str, path: str) -> Fault | None:
        with self._lock:
            fault = self._decide(method, path)
            if fault is not None:
                kind = "answer_lost" if fault.lose_answer else "slow" if fault.status == 200 else str(fault.status)
                self.served[kind] += 1
            return fault

    def _decide(self, method: str, path: str) -> Fault | None:
        for active in self._rules:
            if active.remaining > 0 and active.matches(method, path):
                active.remaining -= 1
                rule = active.rule
                return Fault(rule.status, rule.delay, rule.retry_after, rule.lose_answer)
        return self._random_fault(method, path)

    def _random_fault(self, method: str, path: str) -> Fault | None:
        p = self._profile
        if not (p.rate_429 or p.rate_500 or p.rate_503 or p.rate_slow or p.rate_answer_lost):
            return None
        if not any(fnmatchcase(path, pattern) for pattern in p.paths):
            return None
        draw = self._rng.random()
        for status, rate in ((429, p.rate_429), (500, p.rate_500), (503, p.rate_503)):
            if draw < rate:
                return Fault(status, retry_after=p.retry_after if status == 429 else None)
            draw -= rate
        if draw < p.rate_slow:
            return Fault(200, delay=p.slow_seconds)
        draw -= p.rate_slow
        if method.upper() == "POST" and draw < p.rate_answer_lost:
            return Fault(200, delay=p.answer_lost_seconds, lose_answer=True)
        return None
