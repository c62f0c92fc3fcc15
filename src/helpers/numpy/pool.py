"""Pooling in NumPy: max, average and global average, forward and backward.

Layout follows PyTorch: inputs ``x`` are ``(N, C, H, W)``. The API follows
cs231n: ``*_forward`` returns ``(out, cache)`` and ``*_backward(dout, cache)``
returns ``dx``. Pooling has no parameters, so ``dx`` is the only gradient.

The implementation is vectorized like :mod:`helpers.numpy.conv`: the only Python loop
runs over the ``KH*KW`` offsets inside the window; each step reads one strided
view of the (padded) input that holds that offset for every output pixel.

Conventions, identical to PyTorch's defaults (``ceil_mode=False``):

* output size: ``floor((size + 2*padding - kernel) / stride) + 1``
  (:func:`pool_output_size`); ``stride`` defaults to the kernel size;
* ``padding`` may be at most half the kernel (``padding <= kernel // 2``), so that
  every window holds at least one real pixel;
* max pooling pads with ``-inf`` (a padded pixel never wins); average pooling pads
  with zeros and *counts* them (``count_include_pad=True``): every window is
  divided by ``KH*KW``;
* **ties in max pooling**: the gradient of a window goes to exactly *one* pixel,
  the *first* maximum in row-major order inside the window (top row first, left to
  right), as in PyTorch's CPU kernel. A constant window sends its whole gradient
  to its top-left real pixel (padding never wins, even against ``-inf``). When
  windows overlap (``stride < kernel``) a pixel that wins several windows receives
  the sum of their gradients. A NaN counts as larger than any number (the output
  is NaN, like PyTorch). The mask is applied by multiplication, so a NaN or inf
  in ``dout`` spreads NaN over its whole window.

Dtypes follow :mod:`helpers.numpy.arrays`: integer and boolean inputs (``x`` and
``dout``) become float64, float16 becomes float32, float32/float64 are kept.
Every output and gradient is a new, writeable array.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from helpers.checks import int_pair
from helpers.numpy.arrays import as_float
from helpers.numpy.conv import conv_output_size

__all__ = [
    "pool_output_size",
    "pool_args",
    "max_pool2d_forward",
    "max_pool2d_backward",
    "max_pool2d",
    "avg_pool2d_forward",
    "avg_pool2d_backward",
    "avg_pool2d",
    "global_avg_pool_forward",
    "global_avg_pool_backward",
]


def pool_output_size(size: int, kernel: int, stride: int | None = None, padding: int = 0) -> int:
    """Length of one spatial axis after pooling: ``floor((size + 2*padding - kernel) / stride) + 1``.

    ``stride=None`` means ``stride = kernel`` (non-overlapping windows, the default
    of every framework). Raises ``ValueError`` like :func:`helpers.numpy.conv.conv_output_size`.
    """
    return conv_output_size(size, kernel, kernel if stride is None else stride, padding)


class PoolGeometry(NamedTuple):
    """Validated sizes of one pooling, kept in the cache for the backward pass."""

    x_shape: tuple[int, int, int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    out_hw: tuple[int, int]


def pool_args(kernel, stride=None, padding=0) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Validated pooling arguments as ``(kernel, stride, padding)`` pairs ``(h, w)``.

    Each argument is an int or a pair of ints, as in PyTorch; ``stride=None``
    means ``stride = kernel``, and ``padding`` may be at most ``kernel // 2``.
    Raises ``ValueError`` otherwise. The pooling layers call it when they are built.
    """
    k = int_pair(kernel, "kernel", minimum=1)
    s = k if stride is None else int_pair(stride, "stride", minimum=1)
    p = int_pair(padding, "padding", minimum=0)
    for a in range(2):
        if p[a] > k[a] // 2:
            raise ValueError(
                f"padding must be at most half the kernel size (padding <= kernel // 2, as in PyTorch), "
                f"so that every window holds a real pixel; got padding={padding!r} with kernel={kernel!r}"
            )
    return k, s, p


def _geometry(x_shape, kernel, stride, padding) -> PoolGeometry:
    if len(x_shape) != 4:
        hint = " For a single image add a batch axis, e.g. x[None]." if len(x_shape) == 3 else ""
        raise ValueError(f"x must have shape (N, C, H, W); got shape {tuple(x_shape)} (ndim {len(x_shape)}).{hint}")
    if min(x_shape) < 1:
        raise ValueError(f"empty array: x shape {tuple(x_shape)}")
    k, s, p = pool_args(kernel, stride, padding)
    out_hw = tuple(conv_output_size(x_shape[2 + a], k[a], s[a], p[a]) for a in range(2))
    return PoolGeometry(tuple(int(v) for v in x_shape), k, s, p, out_hw)


def _window_slices(g: PoolGeometry, i: int, j: int) -> tuple[slice, slice]:
    """Slices of the padded input that window offset ``(i, j)`` reads for every output pixel."""
    (sh, sw), (oh, ow) = g.stride, g.out_hw
    return slice(i, i + sh * (oh - 1) + 1, sh), slice(j, j + sw * (ow - 1) + 1, sw)


def _view(xp: np.ndarray, g: PoolGeometry, i: int, j: int) -> np.ndarray:
    """Strided view of the padded input holding window offset ``(i, j)`` of every window: (N, C, OH, OW)."""
    rows, cols = _window_slices(g, i, j)
    return xp[:, :, rows, cols]


def _pad(x: np.ndarray, g: PoolGeometry, value: float) -> np.ndarray:
    (ph, pw) = g.padding
    if not (ph or pw):
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _check_dout(dout, g: PoolGeometry) -> np.ndarray:
    """``dout`` as a floating array (the dtype of ``dx``), checked against the forward output's shape."""
    dout = as_float(dout, "dout")
    expected = (*g.x_shape[:2], *g.out_hw)
    if dout.shape != expected:
        raise ValueError(f"dout must have the forward output's shape {expected}; got {dout.shape}")
    return dout


# --------------------------------------------------------------------------- max pooling


def max_pool2d_forward(x, kernel, stride=None, padding=0):
    """Forward pass of 2-D max pooling (as ``torch.nn.functional.max_pool2d``).

    Parameters
    ----------
    x : array (N, C, H, W); integer input is converted to float64, float16 to float32
    kernel : int or (int, int), the window size
    stride : int or (int, int) or None; ``None`` means ``stride = kernel``
    padding : int or (int, int), at most ``kernel // 2``; pads with ``-inf``

    Returns
    -------
    out : array (N, C, OH, OW), in the floating dtype of ``x``
    cache : what :func:`max_pool2d_backward` needs: the geometry and, for every
        output pixel, the offset (``i*KW + j``) of the first maximum of its window.
    """
    x = as_float(x)
    g = _geometry(x.shape, kernel, stride, padding)
    xp = _pad(x, g, -np.inf)
    kh, kw = g.kernel
    index_dtype = np.uint8 if kh * kw <= 256 else np.int32
    offsets = [(i, j) for i in range(kh) for j in range(kw)]
    # Running maximum over the window offsets in row-major order. The index moves
    # only where a later value is strictly larger, so ties keep the first maximum.
    # (Offsets grow along the loop, so "arg = max(arg, o * larger)" sets arg = o
    # exactly where larger is True; it is much faster than a masked assignment.)
    out = _view(xp, g, 0, 0).copy()
    arg = np.zeros(out.shape, dtype=index_dtype)
    larger = np.empty(out.shape, dtype=bool)
    candidate = np.empty(out.shape, dtype=index_dtype)
    for o, (i, j) in enumerate(offsets[1:], start=1):
        view = _view(xp, g, i, j)
        np.greater(view, out, out=larger)
        np.multiply(larger, index_dtype(o), out=candidate)
        np.maximum(arg, candidate, out=arg)
        np.maximum(out, view, out=out)  # propagates NaN, like PyTorch
    padded = g.padding != (0, 0)
    if np.isnan(out).any() or (padded and np.isneginf(out).any()):
        arg = _exact_argmax(xp, g, offsets, index_dtype)
    return out, (arg, g)


def _exact_argmax(xp, g, offsets, index_dtype):
    """Argmax with PyTorch's exact rule, over real pixels only: take a pixel if ``val > best or isnan(val)``.

    Only needed when NaNs occur, or when every real pixel of a padded window is
    ``-inf`` (then the first real pixel wins, not the padding).
    """
    (ph, pw), (n, c, h, w) = g.padding, g.x_shape
    real = np.zeros(xp.shape[2:], dtype=bool)
    real[ph : ph + h, pw : pw + w] = True
    best = np.full((n, c, *g.out_hw), -np.inf, dtype=xp.dtype)
    seen = np.zeros(g.out_hw, dtype=bool)  # has the window met a real pixel yet?
    arg = np.zeros(best.shape, dtype=index_dtype)
    for o, (i, j) in enumerate(offsets):
        rows, cols = _window_slices(g, i, j)
        view, valid = xp[:, :, rows, cols], real[rows, cols]
        take = valid & ((view > best) | np.isnan(view) | ~seen)
        arg[take] = o
        best[take] = view[take]
        seen |= valid
    return arg


def max_pool2d_backward(dout, cache):
    """Backward pass of :func:`max_pool2d_forward`: returns ``dx`` of shape ``(N, C, H, W)``.

    Each window sends its upstream gradient to the single pixel that won it (the
    first maximum in row-major order, see the module docstring); every other
    pixel of the window gets zero. Overlapping windows add their contributions.
    """
    arg, g = cache
    dout = _check_dout(dout, g)
    dtype = dout.dtype
    n, c, h, w = g.x_shape
    kh, kw = g.kernel
    ph, pw = g.padding
    dxp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=dtype)
    overlap = g.stride[0] < kh or g.stride[1] < kw
    mask = np.empty(arg.shape, dtype=bool)
    for o in range(kh * kw):
        view = _view(dxp, g, *divmod(o, kw))
        np.equal(arg, o, out=mask)
        if overlap:
            view += dout * mask
        else:  # each pixel is in at most one window: write in place, no temporary
            np.multiply(dout, mask, out=view)
    if ph or pw:
        return np.ascontiguousarray(dxp[:, :, ph : ph + h, pw : pw + w])
    return dxp


def max_pool2d(x, kernel, stride=None, padding=0) -> np.ndarray:
    """Convenience wrapper: the output of :func:`max_pool2d_forward` without the cache."""
    return max_pool2d_forward(x, kernel, stride, padding)[0]


# --------------------------------------------------------------------------- average pooling


def avg_pool2d_forward(x, kernel, stride=None, padding=0):
    """Forward pass of 2-D average pooling (as ``torch.nn.functional.avg_pool2d`` with its defaults).

    Zero padding is counted in the average (``count_include_pad=True``): every
    window is divided by ``KH*KW``. Arguments as :func:`max_pool2d_forward`.
    Returns ``(out, cache)`` with ``out`` of shape ``(N, C, OH, OW)``.
    """
    x = as_float(x)
    g = _geometry(x.shape, kernel, stride, padding)
    xp = _pad(x, g, 0.0)
    kh, kw = g.kernel
    out = _view(xp, g, 0, 0).copy()
    for o in range(1, kh * kw):
        i, j = divmod(o, kw)
        out += _view(xp, g, i, j)
    out *= out.dtype.type(1.0 / (kh * kw))
    return out, (g,)


def avg_pool2d_backward(dout, cache):
    """Backward pass of :func:`avg_pool2d_forward`: every pixel of a window gets ``dout / (KH*KW)``.

    Pixels in several windows add up their shares; gradients that fall on the
    zero padding are dropped. Returns ``dx`` of shape ``(N, C, H, W)``.
    """
    (g,) = cache
    dout = _check_dout(dout, g)
    dtype = dout.dtype
    n, c, h, w = g.x_shape
    kh, kw = g.kernel
    ph, pw = g.padding
    share = (dout * np.asarray(1.0 / (kh * kw), dtype=dtype)).astype(dtype, copy=False)
    dxp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=dtype)
    overlap = g.stride[0] < kh or g.stride[1] < kw
    for o in range(kh * kw):
        view = _view(dxp, g, *divmod(o, kw))
        if overlap:
            view += share
        else:
            view[...] = share
    if ph or pw:
        return np.ascontiguousarray(dxp[:, :, ph : ph + h, pw : pw + w])
    return dxp


def avg_pool2d(x, kernel, stride=None, padding=0) -> np.ndarray:
    """Convenience wrapper: the output of :func:`avg_pool2d_forward` without the cache."""
    return avg_pool2d_forward(x, kernel, stride, padding)[0]


# --------------------------------------------------------------------------- global average pooling


def global_avg_pool_forward(x):
    """Global average pooling: the mean of every feature map, ``(N, C, H, W) -> (N, C)``.

    The same as ``torch.nn.AdaptiveAvgPool2d(1)`` followed by a flatten (or
    ``x.mean(dim=(2, 3))``). Returns ``(out, cache)``.
    """
    x = as_float(x)
    if x.ndim != 4:
        hint = " For a single image add a batch axis, e.g. x[None]." if x.ndim == 3 else ""
        raise ValueError(f"x must have shape (N, C, H, W); got shape {x.shape} (ndim {x.ndim}).{hint}")
    if x.size == 0:
        raise ValueError(f"empty array: x shape {x.shape}")
    return x.mean(axis=(2, 3)), (x.shape,)


def global_avg_pool_backward(dout, cache):
    """Backward pass of :func:`global_avg_pool_forward`: each pixel gets ``dout / (H*W)`` of its map."""
    (x_shape,) = cache
    dout = as_float(dout, "dout")
    if dout.shape != tuple(x_shape[:2]):
        raise ValueError(f"dout must have the forward output's shape {tuple(x_shape[:2])}; got {dout.shape}")
    share = dout * dout.dtype.type(1.0 / (x_shape[2] * x_shape[3]))
    dx = np.empty(x_shape, dtype=dout.dtype)  # a new array: a broadcast view would be read-only
    dx[...] = share[:, :, None, None]
    return dx
