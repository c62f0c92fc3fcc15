"""Uncertainty for the book's measurements: how far a number printed from one test set could move.

``bootstrap_interval`` resamples the test items (images) with replacement and recomputes any statistic,
pooled ones included; ``wilson_interval`` is the interval of a proportion k/n; ``paired_bootstrap_difference``
compares two methods scored on the same items, which is tighter than comparing their separate intervals;
``welch_interval`` compares the means of two small sets of training runs (seeds), which share nothing.
All need NumPy only, except ``welch_interval``, which imports SciPy's t distribution when called.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from helpers.checks import as_generator, number, positive_int

__all__ = ["bootstrap_interval", "paired_bootstrap_difference", "wilson_interval", "welch_interval"]


def _level(level) -> float:
    return number(level, "level", low=0.0, high=1.0, low_open=True, high_open=True)


def bootstrap_interval(statistic: Callable[[np.ndarray], float], n_items: int, n_boot: int = 2000,
                       level: float = 0.95, seed=0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(indices)`` over ``n_items`` resampled with replacement.

    ``statistic`` receives an int array of ``n_items`` indices (repeats allowed) and returns a number, so a
    pooled metric (one intersection over one union of the chosen images) is resampled correctly, not only a
    mean of per-image scores. Returns ``(low, high)`` at the given two-sided ``level``; seeded.
    """
    n_items = positive_int(n_items, "n_items")
    n_boot = positive_int(n_boot, "n_boot")
    alpha = 1 - _level(level)
    gen = as_generator(seed)
    values = np.array([float(statistic(gen.integers(0, n_items, n_items))) for _ in range(n_boot)])
    if not np.isfinite(values).all():
        raise ValueError("statistic returned a non-finite value on a bootstrap sample")
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def paired_bootstrap_difference(statistic_a: Callable[[np.ndarray], float],
                                statistic_b: Callable[[np.ndarray], float], n_items: int, n_boot: int = 2000,
                                level: float = 0.95, seed=0) -> tuple[float, float, float]:
    """``(difference, low, high)`` of ``statistic_b - statistic_a`` on the same resampled items.

    Both methods are scored on each bootstrap sample, so the interval reflects only how their
    *difference* varies over test sets. If the interval contains 0 the difference is inside the noise.
    """
    n_items = positive_int(n_items, "n_items")
    all_items = np.arange(n_items)
    diff = float(statistic_b(all_items)) - float(statistic_a(all_items))
    low, high = bootstrap_interval(lambda idx: float(statistic_b(idx)) - float(statistic_a(idx)), n_items,
                                   n_boot=n_boot, level=level, seed=seed)
    return diff, low, high


def wilson_interval(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``successes / trials`` (better than p ± z·SE for small n)."""
    from statistics import NormalDist

    trials = positive_int(trials, "trials")
    successes = int(successes)
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be between 0 and trials={trials}; got {successes}")
    z = NormalDist().inv_cdf(1 - (1 - _level(level)) / 2)
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def welch_interval(a, b, level: float = 0.95) -> tuple[float, float, float]:
    """``(mean(a) - mean(b), low, high)``: Welch's t interval for the difference of two means.

    For scores of independent runs, e.g. three training seeds of each of two methods: the standard error
    ``sqrt(var(a)/n_a + var(b)/n_b)`` (sample variances, ddof=1) times Student's t quantile at the
    Welch-Satterthwaite degrees of freedom. With 3 runs per arm the quantile is large (about 2.8 at
    95 %), which is the honest price of few seeds. Needs at least 2 finite values in each of ``a`` and ``b``.
    """
    from scipy.stats import t as student_t

    a, b = (np.asarray(v, dtype=float).ravel() for v in (a, b))
    for name, v in (("a", a), ("b", b)):
        if v.size < 2 or not np.all(np.isfinite(v)):
            raise ValueError(f"{name} must hold at least 2 finite values (one per run); got {v.tolist()}")
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    diff = float(a.mean() - b.mean())
    if va + vb == 0:
        return diff, diff, diff
    dof = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    half = float(student_t.ppf(1 - (1 - _level(level)) / 2, dof) * np.sqrt(va + vb))
    return diff, diff - half, diff + half
