"""Weight initialization in NumPy: fan-in/fan-out, the zero/normal/Xavier/He schemes, and their effect.

:func:`activation_stds` pushes data through a deep stack of dense layers to show
how each scheme keeps (or loses) the scale of the activations.
"""

from __future__ import annotations

import numpy as np

from helpers.checks import as_generator, number, positive_int
from helpers.numpy.dropout import dropout_forward

_ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0),
    "tanh": np.tanh,
    "linear": lambda z: z,
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
}

__all__ = ["INIT_SCHEMES", "fans", "init_std", "init_weights", "reinitialize", "activation_stds"]


INIT_SCHEMES = ("zeros", "normal", "xavier", "he")


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
        return number(std, "std", low=0)
    if scheme == "xavier":
        return float(np.sqrt(2.0 / (fan_in + fan_out)))
    return float(np.sqrt(2.0 / fan_in))


def init_weights(shape, scheme: str = "he", rng=None, std: float = 0.01, gain: float = 1.0,
                 dtype=np.float32) -> np.ndarray:
    """A weight array of ``shape`` drawn from ``N(0, (gain * init_std(shape, scheme, std))**2)``.

    ``gain`` multiplies the scheme's standard deviation (1: the scheme as published).
    ``rng`` is a NumPy ``Generator``, an int seed or ``None``.
    """
    gain = number(gain, "gain", low=0)
    s = gain * init_std(shape, scheme, std)
    shape = tuple(int(v) for v in shape)
    if s == 0:
        return np.zeros(shape, dtype=dtype)
    return (as_generator(rng).standard_normal(shape) * s).astype(dtype)


def reinitialize(network, scheme: str = "he", rng=None, std: float = 0.01, gain: float = 1.0):
    """Re-draw, in place, the weight ``w`` of every layer of ``network`` that has one; biases become 0.

    ``network`` is a :class:`helpers.numpy.network.Sequential` (or anything with a ``layers`` list).
    Returns the network.
    """
    layers = getattr(network, "layers", None)
    if layers is None:
        raise ValueError(f"network must have a list of layers; got {type(network).__name__}")
    rng = as_generator(rng)
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
    depth, width = positive_int(depth, "depth"), positive_int(width, "width")
    h = np.asarray(x, dtype=np.float64)
    if h.ndim != 2:
        raise ValueError(f"x must have shape (N, D); got {h.shape}")
    rng = as_generator(rng)
    f = _ACTIVATIONS[activation]
    stds = np.empty(depth)
    for i in range(depth):
        w = init_weights((width, h.shape[1]), scheme, rng, std=std, gain=gain, dtype=np.float64)
        h = f(h @ w.T)
        if dropout:
            h, _ = dropout_forward(h, dropout, train=True, rng=rng)
        stds[i] = h.std()
    return stds
