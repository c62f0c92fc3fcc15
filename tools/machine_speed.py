"""Print how fast this machine is today, so that timings from different days can be compared.

    python tools/machine_speed.py

Times a float32 2048x2048 matrix product with NumPy (the BLAS that the NumPy engine's convolutions use),
on all cores and on one, and prints the median of 15 repeats in GFLOP/s. `.ci/run` prints it after its step
table: the same machine has measured from about 200 to about 460 GFLOP/s on different days, and every step
of the book's CI slows down with it.
"""

from __future__ import annotations

import os
import time

import numpy as np


def matmul_gflops(n: int = 2048, repeats: int = 15) -> float:
    """Median GFLOP/s of ``a @ b`` for float32 ``(n, n)`` matrices over ``repeats`` timed runs (after 3 warm-ups)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / float(np.median(times)) / 1e9


def main(n: int = 2048) -> None:
    """Print the rate on all cores and, where threadpoolctl can limit the BLAS threads, on one core."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:                     # scikit-learn brings threadpoolctl; without it, all cores only
        threadpool_limits = None
    cores = os.cpu_count() or 1
    print(f"machine speed: float32 matmul {matmul_gflops(n):.0f} GFLOP/s on {cores} cores", end="")
    if threadpool_limits is not None:
        with threadpool_limits(limits=1):
            print(f", {matmul_gflops(n, repeats=5):.0f} GFLOP/s on 1 core", end="")
    print(" (NumPy, median of repeats)")


if __name__ == "__main__":
    main()
