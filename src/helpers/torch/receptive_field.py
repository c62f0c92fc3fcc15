"""Receptive fields of convolution stacks, computed two ways: analytically from the layers, and from gradients.

:func:`receptive_field` walks a sequence of layers (``nn.Conv2d``, ``nn.MaxPool2d``, ``nn.AvgPool2d``; layers that
act pixel by pixel such as activations and batch norm leave it unchanged) and applies, per layer with kernel
``k``, stride ``s`` and dilation ``d``, ``r <- r + (k - 1) * d * j`` and ``j <- j * s`` (``r`` the receptive field
in input pixels, ``j`` the distance in input pixels between neighbouring output units), starting from
``r = j = 1``. :func:`gradient_receptive_field` measures the same thing empirically: the input pixels on which
one output unit's gradient is non-zero.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["receptive_field", "gradient_receptive_field"]

_POINTWISE = (nn.ReLU, nn.LeakyReLU, nn.GELU, nn.Tanh, nn.Sigmoid, nn.Identity, nn.BatchNorm2d, nn.GroupNorm,
              nn.Dropout, nn.Dropout2d)


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def receptive_field(layers) -> dict:
    """Receptive field of a stack of layers: ``{"size": (rh, rw), "jump": (jh, jw)}`` in input pixels.

    ``layers`` is an ``nn.Sequential`` (nested ones are walked) or an iterable of modules. Convolutions and
    max/average pooling count; pointwise layers (activations, batch/group norm, dropout) are skipped; any other
    module raises ``ValueError`` (its receptive field is unknown, e.g. attention or global pooling, which see
    the whole input).
    """
    if isinstance(layers, nn.Module) and not isinstance(layers, nn.Sequential):
        layers = [layers]
    size, jump = [1, 1], [1, 1]
    for layer in layers:
        if isinstance(layer, nn.Sequential):
            inner = receptive_field(layer)
            for a in range(2):
                size[a] += (inner["size"][a] - 1) * jump[a]
                jump[a] *= inner["jump"][a]
            continue
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            k, s = _pair(layer.kernel_size), _pair(layer.stride if layer.stride is not None else layer.kernel_size)
            d = _pair(getattr(layer, "dilation", 1))
            for a in range(2):
                size[a] += (k[a] - 1) * d[a] * jump[a]
                jump[a] *= s[a]
        elif not isinstance(layer, _POINTWISE):
            raise ValueError(f"receptive_field knows convolutions, max/avg pooling and pointwise layers; "
                             f"got {type(layer).__name__}")
    return {"size": tuple(size), "jump": tuple(jump)}


def gradient_receptive_field(model: nn.Module, input_shape, unit=None) -> dict:
    """Input pixels that influence one output unit, measured by autograd: ``{"size": (h, w), "box": (y0, x0, y1, x1)}``.

    ``input_shape`` is ``(C, H, W)``; the model maps ``(1, C, H, W)`` to ``(1, K, H', W')``. ``unit`` is the
    ``(row, col)`` of the output unit (default: the centre). The box is the tight bounding box (end exclusive) of
    the pixels where the gradient of the unit's channel sum is non-zero, with a random normal input; near the
    border the box is clipped by the image. Units that are exactly zero for this input (dead ReLUs) can make
    it smaller than the analytic receptive field, so it is a lower bound in general.
    """
    if len(tuple(input_shape)) != 3:
        raise ValueError(f"input_shape must be (C, H, W); got {tuple(input_shape)}")
    x = torch.randn(1, *input_shape, generator=torch.Generator().manual_seed(0), requires_grad=True)
    out = model(x)
    if out.ndim != 4:
        raise ValueError(f"the model must return a feature map (1, K, H', W'); got shape {tuple(out.shape)}")
    row, col = unit if unit is not None else (out.shape[2] // 2, out.shape[3] // 2)
    if not (0 <= row < out.shape[2] and 0 <= col < out.shape[3]):
        raise ValueError(f"unit {(row, col)} is outside the output map of size {tuple(out.shape[2:])}")
    out[0, :, row, col].sum().backward()
    hit = x.grad[0].abs().sum(0) > 0
    if not hit.any():
        raise ValueError("the gradient is zero everywhere: the unit does not depend on the input")
    rows, cols = torch.nonzero(hit.any(1)).flatten(), torch.nonzero(hit.any(0)).flatten()
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    return {"size": (y1 - y0, x1 - x0), "box": (y0, x0, y1, x1)}
