"""Numerical gradient checks (central differences), in the style of cs231n."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["numerical_gradient", "rel_error"]


def numerical_gradient(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, dout: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    """Gradient of ``sum(f(x) * dout)`` with respect to ``x`` by central differences.

    ``f`` is evaluated twice per element of ``x``; ``x`` is perturbed in place and
    restored. Use float64 arrays: in float32 the differences drown in rounding.
    """
    x = np.asarray(x)
    if x.dtype != np.float64:
        raise ValueError(f"numerical_gradient needs a float64 array to be accurate; got {x.dtype}")
    dout = np.asarray(dout)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        idx = it.multi_index
        old = x[idx]
        x[idx] = old + h
        plus = np.sum(f(x) * dout)
        x[idx] = old - h
        minus = np.sum(f(x) * dout)
        x[idx] = old
        grad[idx] = (plus - minus) / (2 * h)
        it.iternext()
    return grad


def rel_error(a: np.ndarray, b: np.ndarray, eps: float = 1e-8) -> float:
    """Largest elementwise relative error ``|a - b| / max(eps, |a| + |b|)``.

    Around 1e-7 or less means two float64 gradients agree; 1e-2 or more means a bug.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    return float(np.max(np.abs(a - b) / np.maximum(eps, np.abs(a) + np.abs(b))))
