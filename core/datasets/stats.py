"""Per-example figures kept compactly while streaming, summarised at the end.

Memory grows with the number of examples, not their size: about 28 bytes per example (three
counts, a 64-bit fingerprint for duplicate detection and its line), held in ``array`` buffers
that numpy reads without copying. A 1 GB file of 1 KB examples needs ~28 MB here.
"""

from __future__ import annotations

import math
from array import array
from collections import defaultdict
from hashlib import blake2b

from core.datasets.report import MAX_WARNING_LINES, Distribution

DUPLICATE_GROUPS_SHOWN = 5


SMALL = 50_000  # below this many values, plain Python (no numpy import: ~0.15 s of a small file's start-up)


def _lerp(a: float, b: float, t: float) -> float:
    """numpy's ``_lerp`` (``numpy/lib/_function_base_impl.py``), operation for operation, so figures match."""
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


def _quantile(ordered: list[int], q: float) -> float:
    """``numpy.quantile(..., method="linear")`` on sorted values: virtual index (n - 1) * q."""
    virtual = (len(ordered) - 1) * q
    below = math.floor(virtual)
    above = min(below + 1, len(ordered) - 1)
    return _lerp(float(ordered[below]), float(ordered[above]), virtual - below)


def _small_distribution(values: array[int]) -> Distribution:
    ordered = sorted(values)
    n = len(ordered)
    middle = n // 2
    median = float(ordered[middle]) if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return Distribution(
        min=ordered[0], max=ordered[-1], mean=round(sum(ordered) / n, 4), median=round(median, 4),
        p10=round(_quantile(ordered, 0.1), 4), p90=round(_quantile(ordered, 0.9), 4),
    )


def distribution(values: array[int]) -> Distribution | None:
    """min, max, mean, median, p10, p90 exactly as the cookbook prints them (numpy, linear)."""
    if not values:
        return None
    if len(values) < SMALL:
        return _small_distribution(values)
    import numpy as np  # only for large files: the CLI starts faster without it

    data = np.frombuffer(values, dtype=np.uint32)
    p10, p90 = np.quantile(data, [0.1, 0.9])
    return Distribution(
        min=int(data.min()), max=int(data.max()), mean=round(float(data.mean()), 4),
        median=round(float(np.median(data)), 4), p10=round(float(p10), 4), p90=round(float(p90), 4),
    )


class ExampleFigures:
    """Three counts per counted example, plus fingerprints of the examples that convert cleanly."""

    def __init__(self) -> None:
        self.messages: array[int] = array("I")
        self.total_tokens: array[int] = array("I")
        self.assistant_tokens: array[int] = array("I")
        self.fingerprints: array[int] = array("q")
        self.fingerprint_lines: array[int] = array("I")

    def add(self, messages: int, total: int, assistant: int) -> None:
        self.messages.append(messages)
        self.total_tokens.append(total)
        self.assistant_tokens.append(assistant)

    def fingerprint(self, line: int, canonical: bytes) -> None:
        # 64 bits: a false duplicate among a million examples has odds ~1e-8. Not hash(): its seed
        # differs between processes, and parts of a file may be read by different ones.
        self.fingerprints.append(int.from_bytes(blake2b(canonical, digest_size=8).digest(), "little", signed=True))
        self.fingerprint_lines.append(line)

    def shift(self, offset: int) -> None:
        """Renumber the fingerprints' lines (a later part of a file, read from line 1)."""
        self.fingerprint_lines = array("I", [line + offset for line in self.fingerprint_lines])

    def absorb(self, later: ExampleFigures) -> None:
        for mine, theirs in ((self.messages, later.messages), (self.total_tokens, later.total_tokens),
                             (self.assistant_tokens, later.assistant_tokens), (self.fingerprints, later.fingerprints),
                             (self.fingerprint_lines, later.fingerprint_lines)):
            mine.extend(theirs)

    def _small_duplicates(self) -> tuple[int, list[int], list[list[int]]]:
        """What :meth:`duplicates` gives, in plain Python: every member of a group but its first repeats it."""
        groups: defaultdict[int, list[int]] = defaultdict(list)
        for key, line in zip(self.fingerprints, self.fingerprint_lines, strict=True):
            groups[key].append(line)
        repeats = sorted(line for lines in groups.values() for line in lines[1:])
        if not repeats:
            return 0, [], []
        shown = repeats[:MAX_WARNING_LINES]
        group_of = {line: key for key, lines in groups.items() if len(lines) > 1 for line in lines}
        listed: list[list[int]] = []
        for line in shown[:DUPLICATE_GROUPS_SHOWN]:
            group = sorted(groups[group_of[line]])
            if group not in listed:
                listed.append(group)
        return len(repeats), shown, listed

    def duplicates(self) -> tuple[int, list[int], list[list[int]]]:
        """(examples repeating an earlier one, their lines, the first groups of equal lines)."""
        if len(self.fingerprints) < 2:
            return 0, [], []
        if len(self.fingerprints) < SMALL:
            return self._small_duplicates()
        import numpy as np

        keys = np.frombuffer(self.fingerprints, dtype=np.int64)
        lines = np.frombuffer(self.fingerprint_lines, dtype=np.uint32)
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        repeats = np.flatnonzero(ordered[1:] == ordered[:-1]) + 1
        if not repeats.size:
            return 0, [], []
        repeat_lines = np.sort(lines[order[repeats]])
        shown = [int(x) for x in repeat_lines[:MAX_WARNING_LINES]]
        groups: list[list[int]] = []
        for line in shown[:DUPLICATE_GROUPS_SHOWN]:
            key = keys[np.flatnonzero(lines == line)[0]]
            group = sorted(int(x) for x in lines[keys == key])
            if group not in groups:
                groups.append(group)
        return int(repeats.size), shown, groups
