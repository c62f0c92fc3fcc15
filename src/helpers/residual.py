"""A residual block in NumPy (the "basic block" of ResNet-18/34), built from :mod:`helpers.layers` objects.

::

    x ──► conv3x3(stride s) ─► BN ─► ReLU ─► conv3x3 ─► BN ──►(+)──► ReLU ──► out
    │                                                          ▲
    └──────── shortcut: identity, or conv1x1(stride s) ─► BN ──┘

The block learns a *residual* ``F(x)`` and outputs ``relu(F(x) + shortcut(x))``.
When the block keeps the shape (same channels, stride 1) the shortcut is the
identity, so the block can fall back to passing its input through by driving
``F`` towards 0, and the backward pass sends ``dout`` straight to the input
along the shortcut, in addition to whatever flows through ``F``. When the block
changes the number of channels or the resolution, a 1x1 convolution with the
same stride (followed by batch normalization, as in torchvision's ResNet)
projects ``x`` to the new shape.
"""

from __future__ import annotations

import numpy as np

from helpers.batchnorm import BatchNorm
from helpers.layers import Conv2D, Layer, ReLU

__all__ = ["ResidualBlock"]


def _positive_int(value, name: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


def _generator(rng) -> np.random.Generator:
    if rng is None or isinstance(rng, np.random.Generator) or (
        isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)
    ):
        return np.random.default_rng(rng)
    raise ValueError(f"rng must be a numpy Generator, an int seed or None; got {rng!r}")


class ResidualBlock(Layer):
    """ResNet basic block: ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``.

    ``ResidualBlock(in_ch, out_ch, stride=1, rng=None, dtype=np.float32)``.

    * ``conv1``: 3x3, ``stride``, padding 1; ``conv2``: 3x3, stride 1, padding 1;
      both without bias (the batch normalization that follows has its own shift);
    * shortcut: the identity when ``in_ch == out_ch`` and ``stride == 1``; otherwise
      ``shortcut_conv`` (1x1, ``stride``, no bias) followed by ``shortcut_bn``.

    Input ``(N, in_ch, H, W)``, output ``(N, out_ch, ceil(H / stride), ceil(W / stride))``.
    It follows the layer protocol of :mod:`helpers.layers`: ``forward(x, train)``,
    ``backward(dout)``, and ``params`` / ``grads`` dicts whose keys name the inner
    layer, e.g. ``"conv1.w"``, ``"bn1.gamma"``, ``"shortcut_conv.w"``. The ``params``
    values *are* the inner layers' arrays, so an optimizer updating them in place
    trains the block. ``rng`` (a NumPy ``Generator``, an int seed or ``None``) draws
    the He-initialized convolution weights.
    """

    def __init__(self, in_ch, out_ch, stride=1, rng=None, dtype=np.float32):
        super().__init__()
        self.in_ch, self.out_ch = _positive_int(in_ch, "in_ch"), _positive_int(out_ch, "out_ch")
        self.stride = _positive_int(stride, "stride")
        rng = _generator(rng)
        self.conv1 = Conv2D(in_ch, out_ch, 3, stride=stride, padding=1, rng=rng, dtype=dtype, bias=False)
        self.bn1 = BatchNorm(out_ch, dtype=dtype)
        self.relu1 = ReLU()
        self.conv2 = Conv2D(out_ch, out_ch, 3, stride=1, padding=1, rng=rng, dtype=dtype, bias=False)
        self.bn2 = BatchNorm(out_ch, dtype=dtype)
        self.relu_out = ReLU()
        self.projection = self.stride != 1 or self.in_ch != self.out_ch
        if self.projection:
            self.shortcut_conv = Conv2D(in_ch, out_ch, 1, stride=stride, rng=rng, dtype=dtype, bias=False)
            self.shortcut_bn = BatchNorm(out_ch, dtype=dtype)
        self.params = {f"{name}.{k}": v for name, layer in self.named_layers() for k, v in layer.params.items()}
        self._collect_grads()

    def named_layers(self) -> list[tuple[str, Layer]]:
        """The inner layers as ``(name, layer)``: main path first, then the shortcut's (if it has any)."""
        names = ["conv1", "bn1", "relu1", "conv2", "bn2", "relu_out"]
        if self.projection:
            names += ["shortcut_conv", "shortcut_bn"]
        return [(name, getattr(self, name)) for name in names]

    def _collect_grads(self):
        self.grads = {f"{name}.{k}": v for name, layer in self.named_layers() for k, v in layer.grads.items()}

    def forward(self, x, train: bool = True):
        """Output of the block; ``train=True`` keeps every inner layer's cache and uses batch statistics."""
        x = np.asarray(x)
        if x.ndim != 4 or x.shape[1] != self.in_ch:
            raise ValueError(f"{self!r} expects x of shape (N, {self.in_ch}, H, W); got shape {x.shape}")
        main = x
        for layer in (self.conv1, self.bn1, self.relu1, self.conv2, self.bn2):
            main = layer.forward(main, train)
        short = self.shortcut_bn.forward(self.shortcut_conv.forward(x, train), train) if self.projection else x
        out = self.relu_out.forward(main + short, train)
        self._cache = True if train else None
        return out

    def backward(self, dout):
        """Gradient with respect to the block's input; the inner layers' gradients go to ``grads``.

        The gradient of the sum reaches both branches unchanged, and the input
        gradient is the sum of what comes back along the main path and the shortcut.
        """
        if self._cache is None:
            raise RuntimeError(
                "ResidualBlock.backward needs a preceding forward(x, train=True) "
                "(forward with train=False keeps nothing for the backward pass)"
            )
        dsum = self.relu_out.backward(dout)
        d = dsum
        for layer in (self.bn2, self.conv2, self.relu1, self.bn1, self.conv1):
            d = layer.backward(d)
        dshort = self.shortcut_conv.backward(self.shortcut_bn.backward(dsum)) if self.projection else dsum
        self._collect_grads()
        return d + dshort

    def __repr__(self) -> str:
        return f"ResidualBlock({self.in_ch}, {self.out_ch}, stride={self.stride})"
