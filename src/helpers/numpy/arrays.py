"""The dtype rule of the NumPy engine: every layer computes in floating point, and returns writeable arrays.

One rule, used by every forward and backward function of :mod:`helpers.numpy`
(convolution, transposed convolution, pooling, activations, dense, batch norm,
dropout, losses):

* **integers and booleans are values, not a precision**: they take the floating
  dtype of the other operands (a ``uint8`` image convolved with ``float32``
  weights computes in ``float32``), as in PyTorch's type promotion; when no
  operand is floating point the computation runs in ``float64``, NumPy's default
  float. Without this, a ``uint8`` image would wrap around (1800 stored as 8) and
  an integer cache would round every gradient to 0.
* **float16 computes in float32 and returns float32**: NumPy has no fast half
  precision arithmetic (no BLAS), and float32 accumulation is what PyTorch uses
  for half inputs on the CPU too, so the result matches ``F.conv2d(x.float(), ...)``
  up to the rounding of the float16 inputs.
* float32 and float64 are kept (mixed operands give the wider one).

Complex, string and object arrays are refused with a ``ValueError`` naming the
argument. :func:`writeable` makes sure an output or gradient can be updated in
place (a broadcast view or a view of a read-only input cannot).
"""

from __future__ import annotations

import numpy as np

__all__ = ["float_dtype", "as_float", "writeable"]


def _check_real(a: np.ndarray, name: str) -> np.ndarray:
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_):
        raise ValueError(f"{name} must be an array of real numbers (float, int or bool); got dtype {a.dtype}")
    return a


def float_dtype(*arrays) -> np.dtype:
    """The floating dtype an operation on ``arrays`` computes in (``None`` entries are skipped).

    The promotion of the floating-point operands, at least float32; float64 when
    none is floating point (integers and booleans only). See the module docstring.
    """
    floats = [np.asarray(a).dtype for a in arrays if a is not None]
    floats = [d for d in floats if np.issubdtype(d, np.floating)]
    if not floats:
        return np.dtype(np.float64)
    return np.result_type(np.float32, *floats)


def as_float(x, name: str = "x", dtype=None) -> np.ndarray:
    """``x`` as a floating-point array: ``dtype`` if given, else ``float_dtype(x)``.

    No copy when ``x`` already has that dtype. Raises ``ValueError`` (naming
    ``name``) for complex, string or object arrays.
    """
    x = _check_real(np.asarray(x), name)
    return x.astype(float_dtype(x) if dtype is None else dtype, copy=False)


def writeable(a: np.ndarray) -> np.ndarray:
    """``a`` itself if it can be written to, else a copy (e.g. of a broadcast or read-only view)."""
    return a if a.flags.writeable else a.copy()
