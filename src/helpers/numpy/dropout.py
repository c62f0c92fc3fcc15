"""Inverted dropout in NumPy, as ``torch.nn.Dropout``.

* :func:`dropout_forward` / :func:`dropout_backward`: functions in the cs231n style,
  ``forward -> (out, cache)``, ``backward(dout, cache) -> dx``;
* :class:`Dropout`: the layer object with the interface of :mod:`helpers.numpy.layers`
  (``forward(x, train)``, ``backward(dout)``, empty ``params`` / ``grads``), so it
  goes into a :class:`helpers.numpy.network.Sequential`.

In training every element is zeroed with probability ``p`` and the survivors are
multiplied by ``1 / (1 - p)``, so the expected output equals the input; in
evaluation (``train=False``) the layer is the identity.

Dtypes follow :mod:`helpers.numpy.arrays`: integer and boolean inputs become float64,
float16 becomes float32 (in evaluation too, so both modes return the same dtype).
"""

from __future__ import annotations

import numpy as np

from helpers.checks import as_generator, number
from helpers.numpy.arrays import as_float, writeable
from helpers.numpy.layers import Layer

__all__ = ["dropout_forward", "dropout_backward", "Dropout"]


def _check_p(p) -> float:
    return number(p, "dropout probability p", low=0, high=1, high_open=True)


def dropout_forward(x, p: float = 0.5, train: bool = True, rng=None, mask=None):
    """Inverted dropout. Returns ``(out, cache)``.

    Parameters
    ----------
    x : array of any shape
    p : float in [0, 1)
        Probability of *dropping* (zeroing) an element, as in ``nn.Dropout(p)``.
    train : bool
        ``False``: the identity (``out = x``; the cache holds no mask).
    rng : numpy ``Generator``, int seed or None
        Draws the mask when ``mask`` is not given.
    mask : boolean array of ``x``'s shape, optional
        Which elements to *keep*; given, it replaces the random draw (e.g. to reuse
        the mask PyTorch drew, or to check gradients with a fixed mask).

    In training ``out = x * mask / (1 - p)``: kept elements are scaled up so that
    ``E[out] = x`` and nothing needs rescaling at test time.
    """
    p = _check_p(p)
    x = as_float(x)
    if not train or p == 0:
        return writeable(x), (None, 1.0)
    if mask is None:
        mask = as_generator(rng).random(x.shape) >= p
    else:
        mask = np.asarray(mask)
        if mask.shape != x.shape:
            raise ValueError(f"mask must have x's shape {x.shape}; got {mask.shape}")
        mask = mask.astype(bool)
    scale = 1.0 / (1.0 - p)
    out = x * mask * x.dtype.type(scale)
    return out, (mask, scale)


def dropout_backward(dout, cache):
    """Backward pass of :func:`dropout_forward`: ``dx = dout * mask / (1 - p)`` (``dout`` itself in eval mode)."""
    mask, scale = cache
    dout = as_float(dout, "dout")
    if mask is None:
        return writeable(dout)
    if dout.shape != mask.shape:
        raise ValueError(f"dout must have the forward output's shape {mask.shape}; got {dout.shape}")
    return dout * mask * dout.dtype.type(scale)


class Dropout(Layer):
    """Inverted dropout layer (as ``torch.nn.Dropout``): ``Dropout(p=0.5, rng=None)``.

    ``forward(x, train=True)`` draws a new mask every call; ``forward(x, train=False)``
    returns ``x`` unchanged. The last mask is in :attr:`mask` (``None`` after an eval call).
    """

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        self.p = _check_p(p)
        self.rng = as_generator(rng)
        self.mask = None

    def _forward(self, x, train):
        # dropped-out and rescaled x in training, x itself in evaluation
        out, cache = dropout_forward(x, self.p, train=train, rng=self.rng)
        self.mask = cache[0]
        return out, cache

    def _backward(self, dout, cache):
        return dropout_backward(dout, cache)

    def __repr__(self) -> str:
        return f"Dropout(p={self.p:g})"
