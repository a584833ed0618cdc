"""Fewer points, same curve: min/max per bucket for a job's metrics (``?max_points=N``).

A loss curve of 100,000 steps cannot be drawn point by point, and an average per bucket would hide
the spikes people look for. Each series is cut into equal buckets by position; a bucket keeps its
lowest and its highest point, and the first and last points are always kept. So the series'
minimum, maximum and last point survive, and a spike anywhere stays visible, in at most N points.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

MIN_POINTS = 4  # below this no bucket is left, and the minimum or the maximum could be dropped


def keep_indices(values: Sequence[float] | npt.NDArray[np.float64], max_points: int) -> npt.NDArray[np.intp]:
    """Sorted indices of the points to keep (all of them when there are at most ``max_points``)."""
    if max_points < MIN_POINTS:
        raise ValueError(f"max_points must be at least {MIN_POINTS}: the first, the last, a bucket's low and high")
    array = np.asarray(values, dtype=np.float64)
    n = array.size
    if n <= max_points:
        return np.arange(n, dtype=np.intp)
    buckets = (max_points - 2) // 2
    inner = array[1:-1]
    keep = [np.array([0, n - 1], dtype=np.intp)]
    if buckets > 0:
        edges = np.linspace(0, inner.size, buckets + 1).astype(np.intp)
        starts, ends = edges[:-1], edges[1:]
        nonempty = ends > starts
        starts, ends = starts[nonempty], ends[nonempty]
        # reduceat gives each bucket's min/max; argmin/argmax per bucket need the positions, so
        # compare against the bucket's extreme broadcast back over its members.
        lows = np.minimum.reduceat(inner, starts)
        highs = np.maximum.reduceat(inner, starts)
        member = np.repeat(np.arange(starts.size), ends - starts)
        position = np.arange(inner.size)
        is_low = inner == lows[member]
        is_high = inner == highs[member]
        first_low = np.full(starts.size, inner.size, dtype=np.intp)
        first_high = np.full(starts.size, inner.size, dtype=np.intp)
        np.minimum.at(first_low, member[is_low], position[is_low])
        np.minimum.at(first_high, member[is_high], position[is_high])
        keep.extend([first_low + 1, first_high + 1])
    return np.unique(np.concatenate(keep))


def downsample(steps: Sequence[int], values: Sequence[float], max_points: int) -> tuple[list[int], list[float]]:
    """``(steps, values)`` of at most ``max_points`` points keeping the series' shape."""
    if len(steps) != len(values):
        raise ValueError("steps and values differ in length")
    kept = keep_indices(values, max_points)
    step_array = np.asarray(steps, dtype=np.int64)
    value_array = np.asarray(values, dtype=np.float64)
    return step_array[kept].tolist(), value_array[kept].tolist()
