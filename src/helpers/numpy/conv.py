"""2-D convolution in NumPy: output-size arithmetic, im2col, forward and backward.

Layout follows PyTorch: inputs ``x`` are ``(N, C, H, W)``, weights ``w`` are
``(F, C, KH, KW)`` and biases ``b`` are ``(F,)``. Like PyTorch (and every deep
learning library) the operation is a *cross-correlation*: the kernel is not
flipped. The API follows cs231n: ``conv2d_forward`` returns ``(out, cache)`` and
``conv2d_backward(dout, cache)`` returns ``(dx, dw, db)``.

The implementation is vectorized with im2col: every receptive field is copied
into one column of a matrix (one strided copy per kernel offset), so the layer
becomes a matrix product that BLAS runs at full speed. The public :func:`im2col`
and :func:`col2im` show that layout for the whole batch. The layer itself is
tuned for speed (``benchmarks/conv2d_speed.py`` measures it against PyTorch):

* each sample's columns form their own matrix, so ``w @ cols[n]`` lands in the
  ``(N, F, OH, OW)`` layout with no transpose;
* the copies are contiguous shifts of the flattened padded image (the output is
  computed on whole padded rows, and the few extra columns are dropped), far
  faster than strided 2-D windows; a stride ``s`` first splits the image into
  ``s*s`` phases, each read at stride 1;
* the batch is processed in chunks of about 2 MB of columns, in buffers that are
  reused (:mod:`helpers.numpy.chunks`), so the columns stay in the CPU's cache;
  small layers keep their columns for the backward pass, large ones recompute
  them chunk by chunk.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from helpers.checks import int_pair, integer
from helpers.numpy.arrays import as_float, float_dtype
from helpers.numpy.chunks import chunk_slices, thread_buffer

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
    cols = _im2col(x, g)
    return cols.transpose(1, 0, 2).reshape(cols.shape[1], -1)


def _im2col(x: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """Sample-major columns ``(N, C*KH*KW, OH*OW)``: each sample's receptive fields form one matrix."""
    n, c, _, _ = g.x_shape
    _, _, kh, kw = g.w_shape
    (ph, pw), (oh, ow) = g.padding, g.out_hw
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
    cols = np.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            rows, columns = _window_slices(g, i, j)
            cols[:, :, i, j] = xp[:, :, rows, columns]
    return cols.reshape(n, c * kh * kw, oh * ow)


def col2im(cols: np.ndarray, x_shape, kernel_hw, stride=1, padding=0, dilation=1) -> np.ndarray:
    """Adjoint of :func:`im2col`: add every column back to the pixels it was copied from.

    Pixels that belong to several receptive fields receive the sum of their
    contributions, which is exactly what the backward pass of a convolution
    needs. Returns an array of shape ``x_shape``.
    """
    kh, kw = int_pair(kernel_hw, "kernel_hw", minimum=1)
    g = _geometry(tuple(x_shape), (1, x_shape[1], kh, kw), stride, padding, dilation)
    n, (oh, ow) = x_shape[0], g.out_hw
    expected = (x_shape[1] * kh * kw, n * oh * ow)
    if np.shape(cols) != expected:
        raise ValueError(f"cols must have shape {expected} for x_shape {tuple(x_shape)}; got {np.shape(cols)}")
    return _col2im(np.asarray(cols).reshape(expected[0], n, oh * ow).transpose(1, 0, 2), g)


def _col2im(cols: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """Scatter-add sample-major columns ``(N, C*KH*KW, OH*OW)`` back to an ``(N, C, H, W)`` array."""
    n, c, h, w = g.x_shape
    _, _, kh, kw = g.w_shape
    (ph, pw), (oh, ow) = g.padding, g.out_hw
    cols6 = cols.reshape(n, c, kh, kw, oh, ow)
    dxp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            rows, columns = _window_slices(g, i, j)
            dxp[:, :, rows, columns] += cols6[:, :, i, j]
    return np.ascontiguousarray(dxp[:, :, ph : ph + h, pw : pw + w])


def _phase_layout(g: ConvGeometry):
    """How :func:`_im2col_phases` lays out one sample: phase size, flat length, columns, taps, phase placement.

    Returns ``(hq, wq, length, width, taps, places)``: each of the ``SH*SW`` phases of the padded image is
    ``hq x wq`` (stored flat, ``length`` numbers with slack), a sample has ``width = OH*wq`` columns, ``taps``
    holds ``(phase, offset)`` for every kernel offset, and ``places`` says, for every phase, which rows and
    columns of ``x`` it holds and where: ``(phase, rows of x, columns of x, first row, first column)``.
    """
    _, _, h, w = g.x_shape
    _, _, kh, kw = g.w_shape
    (sh, sw), (ph, pw), (dh, dw), (oh, _) = g.stride, g.padding, g.dilation, g.out_hw
    hq, wq = -(-(h + 2 * ph) // sh), -(-(w + 2 * pw) // sw)
    taps = [((i * dh % sh) * sw + j * dw % sw, (i * dh // sh) * wq + j * dw // sw)
            for i in range(kh) for j in range(kw)]
    places = []
    for a in range(sh):
        r0 = (a - ph) % sh                     # the first row of x that lands in phase row a
        for b in range(sw):
            c0 = (b - pw) % sw
            if r0 < h and c0 < w:
                places.append((a * sw + b, slice(r0, h, sh), slice(c0, w, sw), (r0 + ph) // sh, (c0 + pw) // sw))
    return hq, wq, hq * wq + (kw - 1) * dw // sw, oh * wq, taps, places


def _im2col_phases(x: np.ndarray, g: ConvGeometry, out: np.ndarray) -> np.ndarray:
    """Columns ``(N, C*KH*KW, OH*wq)`` made of contiguous shifts of the flattened phases of the padded image.

    With stride 1, kernel offset ``(i, j)`` reads the padded image shifted by ``i*WP + j`` pixels (times
    the dilation). Computing the output on all ``WP`` columns of each padded row (the last few are
    discarded) turns every copy into one long contiguous slice, which is several times faster than copying
    strided 2-D windows. A stride ``s`` first splits the padded image into ``s*s`` phases (every ``s``-th
    row and column, starting at each offset); each kernel offset then reads one phase, shifted, at stride 1.
    Fills and returns ``out``, a C-contiguous array of that shape.
    """
    n, c = g.x_shape[:2]
    hq, wq, length, width, taps, places = _phase_layout(g)
    flat = thread_buffer("conv-phases", (n, c, g.stride[0] * g.stride[1], length), x.dtype)
    flat.fill(0)
    for phase, rows, columns, top, left in places:
        sub = x[:, :, rows, columns]
        flat[:, :, phase, : hq * wq].reshape(n, c, hq, wq)[:, :, top : top + sub.shape[2],
                                                           left : left + sub.shape[3]] = sub
    cols = out.reshape(n, c, len(taps), width)
    for k, (phase, o) in enumerate(taps):
        cols[:, :, k] = flat[:, :, phase, o : o + width]
    return out


def _col2im_phases(cols: np.ndarray, g: ConvGeometry, out: np.ndarray) -> None:
    """Adjoint of :func:`_im2col_phases`: add the shifted columns back into ``out``, an ``(N, C, H, W)`` array."""
    n, c = g.x_shape[:2]
    hq, wq, length, width, taps, places = _phase_layout(g)
    cols4 = cols.reshape(n, c, len(taps), width)
    flat = thread_buffer("conv-phases", (n, c, g.stride[0] * g.stride[1], length), cols.dtype)
    flat.fill(0)
    for k, (phase, o) in enumerate(taps):
        flat[:, :, phase, o : o + width] += cols4[:, :, k]
    for phase, rows, columns, top, left in places:
        target = out[:, :, rows, columns]
        out[:, :, rows, columns] = flat[:, :, phase, : hq * wq].reshape(n, c, hq, wq)[
            :, :, top : top + target.shape[2], left : left + target.shape[3]]


def _part(g: ConvGeometry, part: slice) -> ConvGeometry:
    """The geometry of the samples ``part`` of the batch."""
    return g._replace(x_shape=(part.stop - part.start, *g.x_shape[1:]))


def _columns(x: np.ndarray, g: ConvGeometry, part: slice, out: np.ndarray | None = None) -> np.ndarray:
    """The columns of the samples ``part`` of ``x``: into ``out``, or this thread's reusable buffer
    (valid until the thread's next call)."""
    if out is None:
        c, kh, kw = g.w_shape[1:]
        out = thread_buffer("conv-cols", (part.stop - part.start, c * kh * kw, _column_width(g)), x.dtype)
    return _im2col_phases(x[part], _part(g, part), out=out)


def _column_width(g: ConvGeometry) -> int:
    """Columns per sample: OH rows of wq, the width of a phase of the padded image (OW plus a few)."""
    return _phase_layout(g)[3]


# Layers whose columns take at most this many bytes keep them for the backward pass; larger ones
# recompute them chunk by chunk there (a cache-sized buffer refilled is faster than a huge array re-read).
_KEEP_COLUMNS_BYTES = 1 << 24


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

    Each sample's columns are multiplied by the filter matrix on their own
    (``w.reshape(F, -1) @ cols[n]``), which writes the output directly in the
    ``(N, F, OH, OW)`` layout; the module docstring lists the other speed-ups.

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
    w2 = w.reshape(f, -1)
    n, (oh, ow) = x.shape[0], g.out_hw
    out = np.empty((n, f, oh, ow), dtype=dtype)
    per_sample = _column_bytes(g, dtype)
    kept = np.empty((n, w2.shape[1], _column_width(g)), dtype) if n * per_sample <= _KEEP_COLUMNS_BYTES else None

    def chunk(part):
        cols = _columns(x, g, part, None if kept is None else kept[part])
        y = np.matmul(w2, cols, out=thread_buffer("conv-out", (len(cols), f, cols.shape[2]), dtype))
        y = y.reshape(-1, f, oh, cols.shape[2] // oh)[:, :, :, :ow]
        out[part] = y if b is None else y + b[:, None, None]   # drops the columns past each row's end

    for part in chunk_slices(n, per_sample):
        chunk(part)
    # Large layers recompute their columns in the backward pass from a copy of x (the caller may change x).
    return out, (x.copy() if kept is None else None, kept, w2, b is not None, g)


def _column_bytes(g: ConvGeometry, dtype) -> int:
    """Bytes of one sample's columns."""
    return math.prod(g.w_shape[1:]) * _column_width(g) * np.dtype(dtype).itemsize


def conv2d_backward(dout, cache, input_grad: bool = True):
    """Backward pass of :func:`conv2d_forward`.

    Given ``dout = dL/dout`` of shape ``(N, F, OH, OW)`` returns ``(dx, dw, db)``:

    * ``dw = sum over samples of dout[n] @ cols[n].T``: each weight's gradient sums
      input * upstream gradient over every position where that weight was used
      (parameter sharing);
    * ``dx = col2im(w.T @ dout[n])``: each input pixel collects the gradient of every
      output it fed, which is a full convolution of ``dout`` with the kernel
      rotated by 180 degrees;
    * ``db = dout.sum over (N, OH, OW)`` (``None`` when the layer has no bias).

    Samples are processed in chunks of about 2 MB of columns, so the columns each
    chunk reads and the gradient columns it scatters back stay in the CPU's cache.
    The gradients have the dtype the forward pass computed in; ``dout`` is cast to it.
    ``input_grad=False`` skips ``dx`` (returned as ``None``; ``dw`` and ``db`` are the same):
    a network's first layer, whose input is the data, needs no input gradient.
    """
    x, kept, w2, has_bias, g = cache
    f = g.w_shape[0]
    n, (oh, ow) = g.x_shape[0], g.out_hw
    dtype = w2.dtype
    dout = as_float(dout, "dout", dtype)
    if dout.shape != (n, f, oh, ow):
        raise ValueError(f"dout must have the forward output's shape {(n, f, oh, ow)}; got {dout.shape}")
    dx = np.empty(g.x_shape, dtype=dtype) if input_grad else None
    w2t = w2.T

    def chunk(part):
        cols = _columns(x, g, part) if kept is None else kept[part]   # large layers recompute their columns
        width = cols.shape[2] // oh            # the phase width: OW plus the columns to discard
        d = dout[part]
        if width != ow:                        # zero gradient for the discarded columns
            d = thread_buffer("conv-dout", (len(cols), f, oh, width), dtype)
            d[:, :, :, ow:] = 0
            d[:, :, :, :ow] = dout[part]
        d = d.reshape(len(cols), f, -1)
        dw = np.matmul(cols, d.transpose(0, 2, 1)).sum(axis=0).T   # (K, F) per sample: faster in BLAS here
        if input_grad:
            dcols = np.matmul(w2t, d, out=thread_buffer("conv-dcols", cols.shape, dtype))
            _col2im_phases(dcols, _part(g, part), out=dx[part])
        return dw

    dw = sum(chunk(part) for part in chunk_slices(n, _column_bytes(g, dtype)))   # in chunk order
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    return dx, dw.reshape(g.w_shape), db


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1) -> np.ndarray:
    """Convenience wrapper: the output of :func:`conv2d_forward` without the cache."""
    return conv2d_forward(x, w, b, stride, padding, dilation)[0]
