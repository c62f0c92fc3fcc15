"""Argument checks shared by the whole library: one rule per kind of argument, one wording of the error.

Every check returns the value in its canonical form (a Python ``int``, an
``(h, w)`` tuple, a ``float``) or raises ``ValueError`` naming the argument,
what was expected and what was passed. Booleans are never accepted as numbers
(``True`` is an ``int`` to Python, but ``stride=True`` is a mistake). Integer
arguments that PyTorch accepts as an int or a pair (kernel size, stride,
padding, dilation) accept both here too, through :func:`int_pair`.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["integer", "positive_int", "int_pair", "number", "as_generator"]


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def integer(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an ``int`` in ``[minimum, maximum]`` (either bound optional), or ``ValueError``."""
    if not _is_int(value):
        raise ValueError(f"{name} must be an int{_bounds(minimum, maximum)}; got {value!r}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an int{_bounds(minimum, maximum)}; got {value!r}")
    return value


def positive_int(value, name: str) -> int:
    """``value`` as an ``int`` >= 1 (a size, a count, a number of channels), or ``ValueError``."""
    return integer(value, name, minimum=1)


def int_pair(value, name: str, minimum: int = 0) -> tuple[int, int]:
    """An int or a pair of ints (as PyTorch's ``kernel_size``/``stride``/``padding``) -> ``(h, w)``.

    Each entry must be >= ``minimum``.
    """
    if _is_int(value):
        pair = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_int(v) for v in value):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"{name} must be an int or a pair of ints (>= {minimum}); got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value!r}")
    return pair


def number(value, name: str, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite ``float`` in the interval given by ``low``/``high`` (open ends optional).

    NaN and infinity are always refused: a NaN learning rate would silently turn
    every parameter into NaN.
    """
    ok_type = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if ok_type and math.isfinite(float(value)):
        v = float(value)
        below = low is not None and (v <= low if low_open else v < low)
        above = high is not None and (v >= high if high_open else v > high)
        if not below and not above:
            return v
    lo = "" if low is None else f"{'(' if low_open else '['}{low}"
    hi = "" if high is None else f"{high}{')' if high_open else ']'}"
    where = f" in {lo or '(-inf'}, {hi or 'inf)'}" if (low is not None or high is not None) else ""
    raise ValueError(f"{name} must be a finite number{where}; got {value!r}")


def as_generator(rng) -> np.random.Generator:
    """A NumPy ``Generator`` from ``rng``: a Generator (used as is), an int seed, or ``None`` (fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or _is_int(rng):
        return np.random.default_rng(None if rng is None else int(rng))
    raise ValueError(f"rng must be a numpy Generator, an int seed or None; got {rng!r}")


def _bounds(minimum, maximum) -> str:
    if minimum is not None and maximum is not None:
        return f" in [{minimum}, {maximum}]"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""
