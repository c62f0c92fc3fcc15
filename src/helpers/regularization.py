"""Dropout and weight initialization in NumPy (Lesson 10).

Dropout (*inverted* dropout, as ``torch.nn.Dropout``):

* :func:`dropout_forward` / :func:`dropout_backward`: functions in the cs231n style,
  ``forward -> (out, cache)``, ``backward(dout, cache) -> dx``;
* :class:`Dropout`: the layer object with the interface of :mod:`helpers.layers`
  (``forward(x, train)``, ``backward(dout)``, empty ``params`` / ``grads``), so it
  goes into a :class:`helpers.network.Sequential`.

In training every element is zeroed with probability ``p`` and the survivors are
multiplied by ``1 / (1 - p)``, so the expected output equals the input; in
evaluation (``train=False``) the layer is the identity.

Initialization:

* :func:`fans`: ``fan_in`` and ``fan_out`` of a dense ``(out, in)`` or conv ``(out, in, KH, KW)`` weight;
* :func:`init_std`: the standard deviation each scheme uses;
* :func:`init_weights`: a weight array drawn by a scheme (``"zeros"``, ``"normal"``,
  ``"xavier"``, ``"he"``), matching ``nn.init.zeros_``, ``normal_``,
  ``xavier_normal_`` and ``kaiming_normal_`` (``mode="fan_in"``, ReLU gain);
* :func:`reinitialize`: re-draw the weights of every ``Conv2D`` / ``Dense`` of a NumPy network;
* :func:`activation_stds`: the standard deviation of the activations after every layer of
  a deep fully connected stack, the quantity initialization schemes are designed to keep steady.
"""

from __future__ import annotations

import numpy as np

from helpers.layers import Layer, _generator

__all__ = [
    "dropout_forward",
    "dropout_backward",
    "Dropout",
    "INIT_SCHEMES",
    "fans",
    "init_std",
    "init_weights",
    "reinitialize",
    "activation_stds",
]

INIT_SCHEMES = ("zeros", "normal", "xavier", "he")
_ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0),
    "tanh": np.tanh,
    "linear": lambda z: z,
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
}


# --------------------------------------------------------------------------- dropout


def _check_p(p) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)) or not (0 <= p < 1):
        raise ValueError(f"dropout probability p must be a number in [0, 1); got {p!r}")
    return float(p)


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
    x = np.asarray(x)
    if not train or p == 0:
        return x, (None, 1.0)
    if mask is None:
        mask = _generator(rng).random(x.shape) >= p
    else:
        mask = np.asarray(mask)
        if mask.shape != x.shape:
            raise ValueError(f"mask must have x's shape {x.shape}; got {mask.shape}")
        mask = mask.astype(bool)
    scale = 1.0 / (1.0 - p)
    out = x * mask * np.asarray(scale, dtype=x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64)
    return out, (mask, scale)


def dropout_backward(dout, cache):
    """Backward pass of :func:`dropout_forward`: ``dx = dout * mask / (1 - p)`` (``dout`` itself in eval mode)."""
    mask, scale = cache
    dout = np.asarray(dout)
    if mask is None:
        return dout
    if dout.shape != mask.shape:
        raise ValueError(f"dout must have the forward output's shape {mask.shape}; got {dout.shape}")
    return dout * mask * np.asarray(scale, dtype=dout.dtype)


class Dropout(Layer):
    """Inverted dropout layer (as ``torch.nn.Dropout``): ``Dropout(p=0.5, rng=None)``.

    ``forward(x, train=True)`` draws a new mask every call; ``forward(x, train=False)``
    returns ``x`` unchanged. The last mask is in :attr:`mask` (``None`` after an eval call).
    """

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        self.p = _check_p(p)
        self.rng = _generator(rng)
        self.mask = None

    def forward(self, x, train: bool = True):
        """Dropped-out and rescaled ``x`` in training, ``x`` itself in evaluation."""
        out, cache = dropout_forward(x, self.p, train=train, rng=self.rng)
        self.mask = cache[0]
        self._cache = cache if train else None
        return out

    def _backward(self, dout, cache):
        return dropout_backward(dout, cache)

    def __repr__(self) -> str:
        return f"Dropout(p={self.p:g})"


# --------------------------------------------------------------------------- initialization


def fans(shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of shape ``(out, in)`` or ``(out, in, KH, KW)`` (PyTorch's layout).

    For a convolution every input of a unit comes from ``in * KH * KW`` numbers, and every
    input value feeds ``out * KH * KW`` products, as ``torch.nn.init`` counts them.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2 or min(shape) < 1:
        raise ValueError(f"a weight shape needs at least 2 positive dimensions (out, in, ...); got {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def init_std(shape, scheme: str, std: float = 0.01) -> float:
    """Standard deviation of the normal distribution a scheme draws a weight of ``shape`` from.

    ``"zeros"``: 0; ``"normal"``: the given ``std``; ``"xavier"`` (Glorot):
    ``sqrt(2 / (fan_in + fan_out))``; ``"he"`` (Kaiming): ``sqrt(2 / fan_in)``.
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown initialization scheme {scheme!r}; choose one of {INIT_SCHEMES}")
    fan_in, fan_out = fans(shape)
    if scheme == "zeros":
        return 0.0
    if scheme == "normal":
        if not std >= 0:
            raise ValueError(f"std must be >= 0; got {std!r}")
        return float(std)
    if scheme == "xavier":
        return float(np.sqrt(2.0 / (fan_in + fan_out)))
    return float(np.sqrt(2.0 / fan_in))


def init_weights(shape, scheme: str = "he", rng=None, std: float = 0.01, gain: float = 1.0,
                 dtype=np.float32) -> np.ndarray:
    """A weight array of ``shape`` drawn from ``N(0, (gain * init_std(shape, scheme, std))**2)``.

    ``gain`` multiplies the scheme's standard deviation (1: the scheme as published).
    ``rng`` is a NumPy ``Generator``, an int seed or ``None``.
    """
    if not gain >= 0:
        raise ValueError(f"gain must be >= 0; got {gain!r}")
    s = gain * init_std(shape, scheme, std)
    shape = tuple(int(v) for v in shape)
    if s == 0:
        return np.zeros(shape, dtype=dtype)
    return (_generator(rng).standard_normal(shape) * s).astype(dtype)


def reinitialize(network, scheme: str = "he", rng=None, std: float = 0.01, gain: float = 1.0):
    """Re-draw, in place, the weight ``w`` of every layer of ``network`` that has one; biases become 0.

    ``network`` is a :class:`helpers.network.Sequential` (or anything with a ``layers`` list).
    Returns the network.
    """
    layers = getattr(network, "layers", None)
    if layers is None:
        raise ValueError(f"network must have a list of layers; got {type(network).__name__}")
    rng = _generator(rng)
    for layer in layers:
        params = getattr(layer, "params", {})
        if "w" in params:
            w = params["w"]
            w[...] = init_weights(w.shape, scheme, rng, std=std, gain=gain, dtype=w.dtype)
        if "b" in params:
            params["b"][...] = 0
    return network


def activation_stds(x, depth: int = 20, width: int = 256, scheme: str = "he", activation: str = "relu",
                    rng=None, std: float = 0.01, gain: float = 1.0, dropout: float = 0.0) -> np.ndarray:
    """Standard deviation of the activations after each of ``depth`` dense layers (bias 0), in float64.

    ``x`` is a batch ``(N, D)``; layer ``i`` maps to ``width`` units with weights from
    :func:`init_weights` and applies ``activation`` (``"relu"``, ``"tanh"``,
    ``"sigmoid"`` or ``"linear"``), then inverted dropout with probability ``dropout``
    (training mode). Returns an array of ``depth`` standard deviations; values far
    below or above the input's mean the signal vanishes or explodes.
    """
    if activation not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(_ACTIVATIONS)}")
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise ValueError(f"depth must be an int >= 1; got {depth!r}")
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
        raise ValueError(f"width must be an int >= 1; got {width!r}")
    h = np.asarray(x, dtype=np.float64)
    if h.ndim != 2:
        raise ValueError(f"x must have shape (N, D); got {h.shape}")
    rng = _generator(rng)
    f = _ACTIVATIONS[activation]
    stds = np.empty(depth)
    for i in range(depth):
        w = init_weights((width, h.shape[1]), scheme, rng, std=std, gain=gain, dtype=np.float64)
        h = f(h @ w.T)
        if dropout:
            h, _ = dropout_forward(h, dropout, train=True, rng=rng)
        stds[i] = h.std()
    return stds
