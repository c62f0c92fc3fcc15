"""What the property-based tests (tests/test_properties_*.py) share: the Hypothesis profile, dtypes, strategies.

The profile is deterministic (``derandomize=True``), bounded (40 examples per
test) and has no deadline, so CI runs the same examples every time in seconds.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

settings.register_profile(
    "cnn-properties",
    derandomize=True,
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
PROFILE = settings.get_profile("cnn-properties")

INT_DTYPES = [np.uint8, np.int64, np.bool_]
FLOAT_DTYPES = [np.float16, np.float32, np.float64]
ALL_DTYPES = INT_DTYPES + FLOAT_DTYPES


def elements(dtype, ties=False):
    """Values for an array of ``dtype``; floats are float16-representable, so casts to float64 are exact.

    ``ties=True`` draws from three values only, so that pooling windows often hold several maxima.
    """
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return st.booleans()
    if ties:
        return st.integers(0 if dtype == np.uint8 else -1, 1)
    if dtype == np.uint8:
        return st.integers(0, 255)
    if dtype.kind == "i":
        return st.integers(-100, 100)
    return st.floats(-2, 2, width=16)


def int_or_pair(lo, hi):
    """``(value as passed to the library and torch, (h, w))``: either an int or an (h, w) tuple."""
    single = st.integers(lo, hi).map(lambda v: (v, (v, v)))
    pair = st.tuples(st.integers(lo, hi), st.integers(lo, hi)).map(lambda p: (p, p))
    return st.one_of(single, pair)


def check_writeable(**arrays):
    """Every array given is an ndarray the caller may write to (``None`` entries are skipped)."""
    for name, a in arrays.items():
        if a is None:
            continue
        assert isinstance(a, np.ndarray), f"{name} is a {type(a).__name__}, not an ndarray"
        assert a.flags.writeable, f"{name} is read-only"
