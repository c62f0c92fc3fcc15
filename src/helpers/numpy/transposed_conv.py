"""Transposed convolution ("deconvolution", the U-Net's learned upsampling) in NumPy.

A convolution maps x -> y = conv2d(x, w). Its input-gradient maps dL/dy back to dL/dx: each output
pixel's gradient is spread over the input window that produced it, weighted by the kernel. A transposed
convolution *is* that map, used as a layer: ``conv_transpose2d(z, w, stride, padding) ==
dL/dx of conv2d(x, w, stride, padding)`` with ``dL/dy = z``. It therefore reuses
:func:`helpers.numpy.conv.col2im` (the scatter-add) for its forward pass and
:func:`helpers.numpy.conv.im2col` (the gather) for its backward pass. Weight layout follows
``torch.nn.ConvTranspose2d``: ``(C_in, C_out, KH, KW)``.

Output size: ``(H - 1) * stride - 2 * padding + dilation * (K - 1) + output_padding + 1``.
``output_padding`` (< stride) picks among the several input sizes that a strided convolution maps to the
same output size; the extra rows/columns only receive the bias.

Integer and boolean inputs are computed in floating point, float16 in float32 (the dtype rule of
:mod:`helpers.numpy.arrays`).
"""

from __future__ import annotations

import numpy as np

from helpers.checks import int_pair, integer
from helpers.numpy.arrays import as_float, float_dtype
from helpers.numpy.conv import col2im, conv_output_size, im2col

__all__ = ["conv_transpose_output_size", "conv_transpose2d_forward", "conv_transpose2d_backward",
           "conv_transpose2d"]


def conv_transpose_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, output_padding: int = 0,
                               dilation: int = 1) -> int:
    """Spatial output size of a transposed convolution (the formula of ``nn.ConvTranspose2d``)."""
    size, kernel = integer(size, "size", minimum=1), integer(kernel, "kernel", minimum=1)
    stride, padding = integer(stride, "stride", minimum=1), integer(padding, "padding", minimum=0)
    output_padding = integer(output_padding, "output_padding", minimum=0)
    dilation = integer(dilation, "dilation", minimum=1)
    if output_padding >= stride:
        raise ValueError(f"output_padding must be smaller than stride; got output_padding={output_padding}, "
                         f"stride={stride}")
    out = (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    if out < 1:
        raise ValueError(f"padding {padding} is too large for input size {size} and kernel {kernel}")
    return int(out)


def conv_transpose2d_forward(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1):
    """Transposed convolution of ``x`` (N, C_in, H, W) with ``w`` (C_in, C_out, KH, KW); returns ``(out, cache)``.

    ``out`` is (N, C_out, OH, OW) with sizes from :func:`conv_transpose_output_size`. Computed as the
    input-gradient of a convolution: ``cols = w^T x`` then ``col2im`` scatter-adds the columns.
    """
    dtype = float_dtype(x, w, b)
    x, w = as_float(x, "x", dtype), as_float(w, "w", dtype)
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"x must be (N, C_in, H, W) and w (C_in, C_out, KH, KW); got {x.shape} and {w.shape}")
    n, cin, h, wd = x.shape
    if w.shape[0] != cin:
        raise ValueError(f"w.shape[0] must equal the input channels {cin} (layout (C_in, C_out, KH, KW)); "
                         f"got {w.shape}")
    cout, kh, kw = w.shape[1:]
    (sh, sw), (ph, pw) = int_pair(stride, "stride", minimum=1), int_pair(padding, "padding", minimum=0)
    (oph, opw) = int_pair(output_padding, "output_padding", minimum=0)
    (dh, dw) = int_pair(dilation, "dilation", minimum=1)
    oh = conv_transpose_output_size(h, kh, sh, ph, oph, dh)
    ow = conv_transpose_output_size(wd, kw, sw, pw, opw, dw)
    if b is not None:
        b = as_float(b, "b", dtype)
        if b.shape != (cout,):
            raise ValueError(f"b must have shape ({cout},), one bias per output channel; got {b.shape}")
    # the matching convolution maps (OH, OW) back to (H, W): that is what makes this its input-gradient
    if conv_output_size(oh, kh, sh, ph, dh) != h or conv_output_size(ow, kw, sw, pw, dw) != wd:
        raise ValueError(f"no convolution maps {(oh, ow)} back to {(h, wd)} with these settings")
    w2 = w.reshape(cin, -1)                                          # (C_in, C_out*KH*KW)
    x2 = x.transpose(1, 0, 2, 3).reshape(cin, -1)                    # (C_in, N*H*W)
    cols = w2.T @ x2                                                 # (C_out*KH*KW, N*H*W)
    geom = ((n, cout, oh, ow), (kh, kw), (sh, sw), (ph, pw), (dh, dw))
    out = col2im(cols, *geom)
    if b is not None:
        out = out + b[None, :, None, None]
    return np.ascontiguousarray(out), (x2, w2, b is not None, x.shape, w.shape, geom)


def conv_transpose2d_backward(dout, cache):
    """Backward of :func:`conv_transpose2d_forward`: ``(dx, dw, db)`` from ``dout`` (N, C_out, OH, OW).

    ``dx`` is an ordinary convolution of ``dout`` with ``w`` (gather with ``im2col``, then multiply),
    ``dw`` pairs those gathered columns with ``x``, and ``db`` sums ``dout`` over N, OH, OW.
    """
    x2, w2, has_bias, x_shape, w_shape, geom = cache
    out_shape, k, s, p, d = geom
    dout = as_float(dout, "dout", x2.dtype)
    if dout.shape != out_shape:
        raise ValueError(f"dout must have the forward output's shape {out_shape}; got {dout.shape}")
    dcols = im2col(dout, k, s, p, d)                                 # (C_out*KH*KW, N*H*W)
    n, cin, h, wd = x_shape
    dx = (w2 @ dcols).reshape(cin, n, h, wd).transpose(1, 0, 2, 3)
    dw = (x2 @ dcols.T).reshape(w_shape)
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    return np.ascontiguousarray(dx), dw, db


def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1) -> np.ndarray:
    """Convenience wrapper: the output of :func:`conv_transpose2d_forward` without the cache."""
    return conv_transpose2d_forward(x, w, b, stride, padding, output_padding, dilation)[0]
