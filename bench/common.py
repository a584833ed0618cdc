"""What every benchmark shares: interleaved rounds, memory of a process tree, the printed table.

Rounds alternate ours and the peer's in the same run (ours, peer, ours, peer, ...), so a busy
moment of the machine hits both. Memory is PSS (proportional set size: a page shared by N
processes counts 1/N in each) summed over a process and all its descendants, sampled every
20 ms, so forked workers are neither ignored nor double-counted. Sizes are scaled by
``FINETUNER_BENCH_SCALE`` (the smoke test runs every benchmark at a tiny size).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SMOKE = os.environ.get("FINETUNER_BENCH_SMOKE") == "1"


def rounds(default: int) -> int:
    """Rounds per measurement: ``FINETUNER_BENCH_ROUNDS`` overrides; the smoke test runs one."""
    return 1 if SMOKE else int(os.environ.get("FINETUNER_BENCH_ROUNDS", default))


def full() -> bool:
    """``FINETUNER_BENCH_FULL=1`` (``make bench-full``): the large sizes too."""
    return os.environ.get("FINETUNER_BENCH_FULL") == "1" and not SMOKE


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (read from /proc; Linux)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as f:
                    queue.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return found


def pss_mb(pids: Sequence[int]) -> float:
    total_kb = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total_kb += int(line.split()[1])
                        break
        except OSError:
            continue
    return total_kb / 1024


class PeakMemory:
    """Peak of the summed PSS of a process tree, sampled in a thread while a ``with`` block runs."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid, self.interval, self.peak_mb = pid, interval, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, pss_mb(descendants(self.pid)))
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Measured:
    """One run of a command: wall seconds, peak PSS of its tree, and what it printed as JSON."""

    seconds: float
    peak_mb: float
    output: dict[str, Any] = field(default_factory=dict)


def run_measured(argv: Sequence[str], *, env: dict[str, str] | None = None, parse_json: bool = True) -> Measured:
    """Run ``argv`` (a Python process tree), timing it and sampling its memory; its stdout's last line is JSON."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=REPO, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    with PeakMemory(process.pid) as memory:
        stdout, stderr = process.communicate()
    seconds = time.perf_counter() - start
    if process.returncode not in (0, 1):  # 1: "the dataset has problems", still a finished run
        raise RuntimeError(f"{' '.join(argv)} exited {process.returncode}:\n{stderr[-3000:]}")
    output: dict[str, Any] = {}
    if parse_json and stdout.strip():
        output = json.loads(stdout)
    return Measured(seconds, memory.peak_mb, output)


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def interleave(runs: dict[str, Callable[[], Measured]], count: int) -> dict[str, list[Measured]]:
    """``count`` rounds of every run in turn (ours and the peer's alternate in the same run)."""
    results: dict[str, list[Measured]] = {name: [] for name in runs}
    for index in range(count):
        for name, run in runs.items():
            measured = run()
            results[name].append(measured)
            print(f"    round {index + 1}/{count} {name}: {measured.seconds:.2f} s, {measured.peak_mb:.0f} MB",
                  flush=True)
    return results


def summary(values: Sequence[float]) -> tuple[float, float]:
    return min(values), statistics.median(values)


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain aligned table (no colour: it goes into logs and the README)."""
    cells = [[str(c) for c in header]] + [[_cell(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [f"  {title}"]
    for index, row in enumerate(cells):
        lines.append("  " + "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths,
                                                                                                      strict=True))))
        if index == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} cores"
