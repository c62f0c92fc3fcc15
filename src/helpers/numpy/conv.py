"""2-D convolution in NumPy: output-size arithmetic, im2col, forward and backward.

Layout follows PyTorch: inputs ``x`` are ``(N, C, H, W)``, weights ``w`` are
``(F, C, KH, KW)`` and biases ``b`` are ``(F,)``. Like PyTorch (and every deep
learning library) the operation is a *cross-correlation*: the kernel is not
flipped. The API follows cs231n: ``conv2d_forward`` returns ``(out, cache)`` and
``conv2d_backward(dout, cache)`` returns ``(dx, dw, db)``.

The implementation is vectorized with im2col: every receptive field is copied
into one column of a matrix (one strided copy per kernel offset), so the whole
layer becomes a single matrix product that BLAS runs at full speed.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from helpers.checks import int_pair, integer
from helpers.numpy.arrays import as_float, float_dtype

__all__ = [
    "conv_output_size",
    "im2col",
    "col2im",
    "conv2d_forward",
    "conv2d_backward",
    "conv2d",
]


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Length of one spatial axis after a convolution (or pooling) window.

    ``out = floor((size + 2*padding - dilation*(kernel - 1) - 1) / stride) + 1``

    The numerator counts the positions where the *dilated* kernel, whose span is
    ``dilation*(kernel-1) + 1``, fits inside the padded input.

    Raises ``ValueError`` if the arguments are not positive (padding may be 0)
    or the dilated kernel is larger than the padded input.
    """
    size, kernel = integer(size, "size", minimum=1), integer(kernel, "kernel", minimum=1)
    stride, padding = integer(stride, "stride", minimum=1), integer(padding, "padding", minimum=0)
    dilation = integer(dilation, "dilation", minimum=1)
    span = dilation * (kernel - 1) + 1
    padded = size + 2 * padding
    if span > padded:
        raise ValueError(
            f"the kernel spans {span} pixels (kernel={kernel}, dilation={dilation}) "
            f"but the padded input is only {padded} pixels (size={size}, padding={padding})"
        )
    return (padded - span) // stride + 1


class ConvGeometry(NamedTuple):
    """Validated sizes of one convolution, kept in the cache for the backward pass."""

    x_shape: tuple[int, int, int, int]
    w_shape: tuple[int, int, int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    out_hw: tuple[int, int]


def _geometry(x_shape, w_shape, stride, padding, dilation) -> ConvGeometry:
    if len(x_shape) != 4:
        hint = " For a single image add a batch axis, e.g. x[None]." if len(x_shape) == 3 else ""
        raise ValueError(f"x must have shape (N, C, H, W); got shape {tuple(x_shape)} (ndim {len(x_shape)}).{hint}")
    if len(w_shape) != 4:
        raise ValueError(f"w must have shape (F, C, KH, KW); got shape {tuple(w_shape)} (ndim {len(w_shape)})")
    if x_shape[1] != w_shape[1]:
        raise ValueError(
            f"channel mismatch: x has {x_shape[1]} channels (shape {tuple(x_shape)}) but each filter "
            f"expects {w_shape[1]} (w shape {tuple(w_shape)}); filters must be as deep as their input"
        )
    if min(x_shape) < 1 or min(w_shape) < 1:
        raise ValueError(f"empty array: x shape {tuple(x_shape)}, w shape {tuple(w_shape)}")
    s = int_pair(stride, "stride", minimum=1)
    p = int_pair(padding, "padding", minimum=0)
    d = int_pair(dilation, "dilation", minimum=1)
    out_hw = tuple(
        conv_output_size(x_shape[2 + a], w_shape[2 + a], s[a], p[a], d[a]) for a in range(2)
    )
    return ConvGeometry(tuple(x_shape), tuple(w_shape), s, p, d, out_hw)


def _window_slices(g: ConvGeometry, i: int, j: int) -> tuple[slice, slice]:
    """Slices of the padded input that kernel offset ``(i, j)`` reads for every output pixel."""
    (sh, sw), (dh, dw), (oh, ow) = g.stride, g.dilation, g.out_hw
    top, left = i * dh, j * dw
    return slice(top, top + sh * (oh - 1) + 1, sh), slice(left, left + sw * (ow - 1) + 1, sw)


def im2col(x: np.ndarray, kernel_hw, stride=1, padding=0, dilation=1) -> np.ndarray:
    """Copy every receptive field of ``x`` into a column.

    Returns an array of shape ``(C*KH*KW, N*OH*OW)``: row ``(c, i, j)`` holds input
    channel ``c`` at kernel offset ``(i, j)`` for every output position, so a
    convolution is ``w.reshape(F, -1) @ im2col(x, ...)``.
    """
    x = np.asarray(x)
    kh, kw = int_pair(kernel_hw, "kernel_hw", minimum=1)
    channels = x.shape[1] if x.ndim == 4 else 1  # a wrong rank is reported by _geometry
    g = _geometry(x.shape, (1, channels, kh, kw), stride, padding, dilation)
    return _im2col(x, g)


def _im2col(x: np.ndarray, g: ConvGeometry) -> np.ndarray:
    n, c, _, _ = g.x_shape
    _, _, kh, kw = g.w_shape
    (ph, pw), (oh, ow) = g.padding, g.out_hw
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
    xt = xp.transpose(1, 0, 2, 3)  # (C, N, Hp, Wp): a view; the copies below do the transpose
    cols = np.empty((c, kh, kw, n, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            rows, columns = _window_slices(g, i, j)
            cols[:, i, j] = xt[:, :, rows, columns]
    return cols.reshape(c * kh * kw, n * oh * ow)


def col2im(cols: np.ndarray, x_shape, kernel_hw, stride=1, padding=0, dilation=1) -> np.ndarray:
    """Adjoint of :func:`im2col`: add every column back to the pixels it was copied from.

    Pixels that belong to several receptive fields receive the sum of their
    contributions, which is exactly what the backward pass of a convolution
    needs. Returns an array of shape ``x_shape``.
    """
    kh, kw = int_pair(kernel_hw, "kernel_hw", minimum=1)
    g = _geometry(tuple(x_shape), (1, x_shape[1], kh, kw), stride, padding, dilation)
    expected = (x_shape[1] * kh * kw, x_shape[0] * g.out_hw[0] * g.out_hw[1])
    if np.shape(cols) != expected:
        raise ValueError(f"cols must have shape {expected} for x_shape {tuple(x_shape)}; got {np.shape(cols)}")
    return _col2im(np.asarray(cols), g)


def _col2im(cols: np.ndarray, g: ConvGeometry) -> np.ndarray:
    n, c, h, w = g.x_shape
    _, _, kh, kw = g.w_shape
    (ph, pw), (oh, ow) = g.padding, g.out_hw
    cols6 = cols.reshape(c, kh, kw, n, oh, ow)
    dxt = np.zeros((c, n, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            rows, columns = _window_slices(g, i, j)
            dxt[:, :, rows, columns] += cols6[:, i, j]
    dxt = dxt[:, :, ph : ph + h, pw : pw + w]
    return np.ascontiguousarray(dxt.transpose(1, 0, 2, 3))


def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1):
    """Forward pass of a 2-D convolution layer (cross-correlation, as in PyTorch).

    Parameters
    ----------
    x : array (N, C, H, W)
    w : array (F, C, KH, KW)
    b : array (F,) or None
    stride, padding, dilation : int or (int, int)
        Zero padding is added on every side; dilation spaces the kernel taps.

    Integer and boolean arrays are computed in floating point (the dtype rule of
    :mod:`helpers.numpy.arrays`): a ``uint8`` image with ``float32`` weights gives
    ``float32``, integers only give ``float64``, float16 computes in float32.

    Returns
    -------
    out : array (N, F, OH, OW), with OH, OW from :func:`conv_output_size`
    cache : what :func:`conv2d_backward` needs
    """
    dtype = float_dtype(x, w, b)
    x, w = as_float(x, "x", dtype), as_float(w, "w", dtype)
    g = _geometry(x.shape, w.shape, stride, padding, dilation)
    f = w.shape[0]
    if b is not None:
        b = as_float(b, "b", dtype)
        if b.shape != (f,):
            raise ValueError(f"b must have shape ({f},), one bias per filter; got {b.shape}")
    cols = _im2col(x, g)
    w2 = w.reshape(f, -1)
    n, (oh, ow) = x.shape[0], g.out_hw
    out = (w2 @ cols).reshape(f, n, oh, ow).transpose(1, 0, 2, 3)
    if b is not None:
        out = out + b[None, :, None, None]
    out = np.ascontiguousarray(out)
    return out, (cols, w2, b is not None, g)


def conv2d_backward(dout, cache):
    """Backward pass of :func:`conv2d_forward`.

    Given ``dout = dL/dout`` of shape ``(N, F, OH, OW)`` returns ``(dx, dw, db)``:

    * ``dw = dout @ cols.T``: each weight's gradient sums input * upstream gradient
      over every position where that weight was used (parameter sharing);
    * ``dx = col2im(w.T @ dout)``: each input pixel collects the gradient of every
      output it fed, which is a full convolution of ``dout`` with the kernel
      rotated by 180 degrees;
    * ``db = dout.sum over (N, OH, OW)`` (``None`` when the layer has no bias).

    The gradients have the dtype the forward pass computed in; ``dout`` is cast to it.
    """
    cols, w2, has_bias, g = cache
    f = g.w_shape[0]
    n, (oh, ow) = g.x_shape[0], g.out_hw
    dout = as_float(dout, "dout", cols.dtype)
    if dout.shape != (n, f, oh, ow):
        raise ValueError(f"dout must have the forward output's shape {(n, f, oh, ow)}; got {dout.shape}")
    d2 = dout.transpose(1, 0, 2, 3).reshape(f, -1)
    dw = (d2 @ cols.T).reshape(g.w_shape)
    dx = _col2im(w2.T @ d2, g)
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    return dx, dw, db


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1) -> np.ndarray:
    """Convenience wrapper: the output of :func:`conv2d_forward` without the cache."""
    return conv2d_forward(x, w, b, stride, padding, dilation)[0]
