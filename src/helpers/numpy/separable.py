"""Convolution variants in NumPy and their cost: parameter and multiply-add formulas, 1x1, depthwise, separable.

The formulas count what ``torch.nn.Conv2d`` holds and computes; the functions are
built on :func:`helpers.numpy.conv.conv2d` and checked against PyTorch in the tests.
"""

from __future__ import annotations

import numpy as np

from helpers.checks import positive_int
from helpers.numpy.arrays import as_float, float_dtype
from helpers.numpy.conv import conv2d

__all__ = ["conv_params", "conv_flops", "separable_cost_ratio", "pointwise_conv_numpy", "depthwise_conv_numpy",
           "separable_conv_numpy"]


def _check_groups(c_in: int, c_out: int, groups: int) -> None:
    if c_in % groups or c_out % groups:
        raise ValueError(f"groups={groups} must divide both c_in={c_in} and c_out={c_out}")


def conv_params(c_in: int, c_out: int, k: int, groups: int = 1, bias: bool = True) -> int:
    """Number of learnable parameters of a ``k x k`` convolution, as ``nn.Conv2d`` stores them.

    Each of the ``c_out`` filters sees ``c_in / groups`` input channels through a
    ``k x k`` window: ``c_out * (c_in / groups) * k * k`` weights, plus ``c_out``
    biases when ``bias`` is true.
    """
    c_in, c_out, k, groups = (positive_int(v, n) for v, n in
                              ((c_in, "c_in"), (c_out, "c_out"), (k, "k"), (groups, "groups")))
    _check_groups(c_in, c_out, groups)
    return c_out * (c_in // groups) * k * k + (c_out if bias else 0)


def conv_flops(c_in: int, c_out: int, k: int, out_h: int, out_w: int, groups: int = 1) -> int:
    """Multiply-adds of a ``k x k`` convolution producing an ``out_h x out_w`` map (one image).

    Every output value is a dot product of length ``(c_in / groups) * k * k``, and
    there are ``c_out * out_h * out_w`` of them. The bias additions are not
    counted (as in PyTorch's flop counter).
    """
    c_in, c_out, k, groups, out_h, out_w = (
        positive_int(v, n) for v, n in ((c_in, "c_in"), (c_out, "c_out"), (k, "k"), (groups, "groups"),
                                         (out_h, "out_h"), (out_w, "out_w")))
    _check_groups(c_in, c_out, groups)
    return c_out * out_h * out_w * (c_in // groups) * k * k


def separable_cost_ratio(c_out: int, k: int) -> float:
    """Cost of depthwise-separable over standard ``k x k`` convolution: ``1 / c_out + 1 / k**2``.

    Holds for both weights (without bias) and multiply-adds, for any ``c_in`` and
    output size (stride 1 in the depthwise part).
    """
    c_out, k = positive_int(c_out, "c_out"), positive_int(k, "k")
    return 1.0 / c_out + 1.0 / k**2


def _check_4d(x, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W), got {x.shape}")
    return x


def pointwise_conv_numpy(x, w, b=None) -> np.ndarray:
    """A 1x1 convolution as a per-pixel dense layer: ``out[n, f, i, j] = sum_c w[f, c] x[n, c, i, j] + b[f]``.

    ``w`` may be ``(F, C)`` or ``(F, C, 1, 1)``. Implemented with ``np.einsum``,
    no windows at all: the same ``F x C`` matrix multiplies every pixel's channel vector.
    Integer inputs are computed in floating point (see :mod:`helpers.numpy.arrays`).
    """
    dtype = float_dtype(x, w, b)
    x = as_float(_check_4d(x, "x"), "x", dtype)
    w = as_float(w, "w", dtype)
    if w.ndim == 4:
        if w.shape[2:] != (1, 1):
            raise ValueError(f"a pointwise kernel must be 1x1, got {w.shape}")
        w = w[:, :, 0, 0]
    if w.ndim != 2 or w.shape[1] != x.shape[1]:
        raise ValueError(f"w must be (F, {x.shape[1]}) to match x's channels, got {w.shape}")
    out = np.einsum("fc,nchw->nfhw", w, x)
    if b is not None:
        out = out + as_float(b, "b", dtype)[None, :, None, None]
    return out


def depthwise_conv_numpy(x, w, b=None, stride=1, padding=0) -> np.ndarray:
    """Depthwise convolution (``groups = C``) with :func:`helpers.numpy.conv.conv2d`, one channel at a time.

    ``w`` has shape ``(C, 1, KH, KW)``, as in ``nn.Conv2d(C, C, k, groups=C)``:
    channel ``c`` of the output is channel ``c`` of the input correlated with
    filter ``c``; channels never mix.
    """
    x = _check_4d(x, "x")
    w = _check_4d(w, "w")
    c = x.shape[1]
    if w.shape[:2] != (c, 1):
        raise ValueError(f"a depthwise kernel for {c} channels must be ({c}, 1, KH, KW), got {w.shape}")
    outs = [conv2d(x[:, i:i + 1], w[i:i + 1], None if b is None else np.asarray(b)[i:i + 1], stride, padding)
            for i in range(c)]
    return np.concatenate(outs, axis=1)


def separable_conv_numpy(x, w_dw, w_pw, b_dw=None, b_pw=None, padding=0) -> np.ndarray:
    """Depthwise-separable convolution in NumPy: :func:`depthwise_conv_numpy` then :func:`pointwise_conv_numpy`."""
    return pointwise_conv_numpy(depthwise_conv_numpy(x, w_dw, b_dw, padding=padding), w_pw, b_pw)
