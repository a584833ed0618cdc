"""The emulator's clock: wall time plus an offset tests can push forward.

Timestamps the API shows are Unix seconds on this clock; simulated durations are converted to wall
seconds by the time scale before they are compared with it.
"""

from __future__ import annotations

import threading
import time


class Clock:
    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.time() + self._offset

    @property
    def offset(self) -> float:
        """Seconds pushed forward so far (saved with the state, so a restart keeps timestamps monotonic)."""
        with self._lock:
            return self._offset

    def set_offset(self, offset: float) -> None:
        with self._lock:
            self._offset = offset

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` wall seconds; returns the new time."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
            return time.time() + self._offset
