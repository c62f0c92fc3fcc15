"""Wall-clock timing for the speed comparisons (benchmarks and lessons)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

__all__ = ["median_time"]


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``repeats`` calls of ``fn()``, after ``warmup`` untimed calls.

    The median ignores the occasional slow call (another process, a garbage
    collection), which a mean would not.
    """
    if not callable(fn):
        raise ValueError(f"median_time needs a function to call, got {type(fn).__name__}")
    if int(repeats) != repeats or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    if int(warmup) != warmup or warmup < 0:
        raise ValueError(f"warmup must be a non-negative integer, got {warmup!r}")
    for _ in range(int(warmup)):
        fn()
    times = []
    for _ in range(int(repeats)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


