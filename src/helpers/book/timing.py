"""Wall-clock timing for the speed comparisons (benchmarks and lessons)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

__all__ = ["alternating_medians", "median_time"]


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


def alternating_medians(fns: dict[str, Callable[[], object]], rounds: int = 15, repeats: int = 5,
                        pause: float = 0.3) -> dict[str, list[float]]:
    """Time several functions side by side: ``{name: [median seconds of each round]}``.

    Each round runs every function in turn: a ``pause`` of idle time, then :func:`median_time` of
    ``repeats`` calls. Alternating spreads a slow spell of the machine over all of them, and the pause
    lets the previous library's worker threads go idle first: OpenBLAS's threads keep spinning for a
    while after a NumPy matrix product, and a PyTorch convolution timed during that spin here took about
    twice as long (median). Compare functions by the per-round ratios, whose spread shows the noise.
    """
    if not fns or not all(callable(f) for f in fns.values()):
        raise ValueError("fns must be a non-empty dict of functions to time")
    if int(rounds) != rounds or rounds < 1:
        raise ValueError(f"rounds must be a positive integer, got {rounds!r}")
    if pause < 0:
        raise ValueError(f"pause must be >= 0 seconds, got {pause!r}")
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(int(rounds)):
        for name, fn in fns.items():
            time.sleep(pause)
            times[name].append(median_time(fn, repeats))
    return times
