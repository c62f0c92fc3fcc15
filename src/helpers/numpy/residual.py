"""A residual block in NumPy (the "basic block" of ResNet-18/34), built from :mod:`helpers.numpy.layers` objects.

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

from helpers.checks import as_generator, int_pair, positive_int
from helpers.numpy.batchnorm import BatchNorm
from helpers.numpy.layers import Conv2D, Layer, ReLU

__all__ = ["ResidualBlock"]


class ResidualBlock(Layer):
    """ResNet basic block: ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``.

    ``ResidualBlock(in_ch, out_ch, stride=1, rng=None, dtype=np.float32)``.

    * ``conv1``: 3x3, ``stride``, padding 1; ``conv2``: 3x3, stride 1, padding 1;
      both without bias (the batch normalization that follows has its own shift);
    * shortcut: the identity when ``in_ch == out_ch`` and ``stride == 1``; otherwise
      ``shortcut_conv`` (1x1, ``stride``, no bias) followed by ``shortcut_bn``.

    ``stride`` is an int or a pair ``(sh, sw)``, as for :class:`helpers.numpy.layers.Conv2D`
    (a square pair is stored as the int). Input ``(N, in_ch, H, W)``, output
    ``(N, out_ch, ceil(H / sh), ceil(W / sw))``.
    It follows the layer protocol of :mod:`helpers.numpy.layers`: ``forward(x, train)``,
    ``backward(dout)``, and ``params`` / ``grads`` dicts whose keys name the inner
    layer, e.g. ``"conv1.w"``, ``"bn1.gamma"``, ``"shortcut_conv.w"``. The ``params``
    values *are* the inner layers' arrays, so an optimizer updating them in place
    trains the block. ``rng`` (a NumPy ``Generator``, an int seed or ``None``) draws
    the He-initialized convolution weights.
    """

    def __init__(self, in_ch, out_ch, stride=1, rng=None, dtype=np.float32):
        super().__init__()
        self.in_ch, self.out_ch = positive_int(in_ch, "in_ch"), positive_int(out_ch, "out_ch")
        sh, sw = int_pair(stride, "stride", minimum=1)
        self.stride = sh if sh == sw else (sh, sw)
        stride = (sh, sw)
        rng = as_generator(rng)
        self.conv1 = Conv2D(in_ch, out_ch, 3, stride=stride, padding=1, rng=rng, dtype=dtype, bias=False)
        self.bn1 = BatchNorm(out_ch, dtype=dtype)
        self.relu1 = ReLU()
        self.conv2 = Conv2D(out_ch, out_ch, 3, stride=1, padding=1, rng=rng, dtype=dtype, bias=False)
        self.bn2 = BatchNorm(out_ch, dtype=dtype)
        self.relu_out = ReLU()
        self.projection = stride != (1, 1) or self.in_ch != self.out_ch
        if self.projection:
            self.shortcut_conv = Conv2D(in_ch, out_ch, 1, stride=stride, rng=rng, dtype=dtype, bias=False)
            self.shortcut_bn = BatchNorm(out_ch, dtype=dtype)
        self.params = {f"{name}.{k}": v for name, layer in self.named_layers() for k, v in layer.params.items()}
        self._collect_grads()
        self._main = [self.conv1, self.bn1, self.relu1, self.conv2, self.bn2]
        self._shortcut = [self.shortcut_conv, self.shortcut_bn] if self.projection else []

    def named_layers(self) -> list[tuple[str, Layer]]:
        """The inner layers as ``(name, layer)``: main path first, then the shortcut's (if it has any)."""
        names = ["conv1", "bn1", "relu1", "conv2", "bn2", "relu_out"]
        if self.projection:
            names += ["shortcut_conv", "shortcut_bn"]
        return [(name, getattr(self, name)) for name in names]

    def _collect_grads(self):
        """Point ``grads`` at the inner layers' current gradients, keyed like ``params``.

        Inner layers replace their ``grads`` arrays on every backward pass, so the
        block's dict is rebuilt after each one (the arrays are shared, not copied).
        """
        self.grads = {f"{name}.{k}": v for name, layer in self.named_layers() for k, v in layer.grads.items()}

    def _forward(self, x, train):
        # train=True keeps every inner layer's cache and uses batch statistics
        x = np.asarray(x)
        if x.ndim != 4 or x.shape[1] != self.in_ch:
            raise ValueError(f"{self!r} expects x of shape (N, {self.in_ch}, H, W); got shape {x.shape}")
        main = short = x
        for layer in self._main:
            main = layer.forward(main, train)
        for layer in self._shortcut:
            short = layer.forward(short, train)
        return self.relu_out.forward(main + short, train), True  # the inner layers hold the caches

    def _backward(self, dout, cache):
        # The gradient of the sum reaches both branches unchanged, and the input gradient
        # is the sum of what comes back along the main path and the shortcut.
        dsum = self.relu_out.backward(dout)
        dmain = dshort = dsum
        for layer in reversed(self._main):
            dmain = layer.backward(dmain)
        for layer in reversed(self._shortcut):
            dshort = layer.backward(dshort)
        self._collect_grads()
        return dmain + dshort

    def __repr__(self) -> str:
        return f"ResidualBlock({self.in_ch}, {self.out_ch}, stride={self.stride})"
