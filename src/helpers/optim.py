"""Optimizers that update NumPy arrays in place: SGD (with momentum), Adam and AdamW.

Each follows the update rule of its ``torch.optim`` namesake step for step, so
the same arrays and gradients give the same numbers. Usage with
:class:`helpers.network.Sequential`::

    opt = Adam(net.parameters(), lr=1e-3)
    ...
    net.backward(dlogits)
    opt.step(net.gradients())

``params`` (and the ``grads`` given to :meth:`Optimizer.step`) may be a list of
arrays or the list of ``(layer_index, name, array)`` tuples of
``Sequential.parameters()`` / ``Sequential.gradients()``. The arrays are changed
*in place*, so whoever holds them (the layers) sees the new values. ``lr`` is a
plain attribute: change it between steps for a learning-rate schedule.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]


def _unpack(items, what: str):
    """``(keys, arrays)`` from a list of arrays or of ``(..., array)`` tuples."""
    keys, arrays = [], []
    for item in items:
        if isinstance(item, tuple):
            keys.append(item[:-1])
            item = item[-1]
        else:
            keys.append(None)
        if not isinstance(item, np.ndarray):
            raise ValueError(f"{what} must be NumPy arrays (or (..., array) tuples); got {type(item).__name__}")
        arrays.append(item)
    return keys, arrays


def _nonnegative(value, name: str) -> float:
    if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    return float(value)


class Optimizer:
    """Base class: holds the parameter arrays and checks the gradients handed to :meth:`step`."""

    def __init__(self, params, lr):
        self.keys, self.params = _unpack(params, "params")
        if not self.params:
            raise ValueError("params is empty: there is nothing to optimize")
        for p in self.params:
            if not np.issubdtype(p.dtype, np.floating):
                raise ValueError(f"params must be floating-point arrays to be updated in place; got dtype {p.dtype}")
            if not p.flags.writeable:
                raise ValueError("params must be writeable arrays (they are updated in place)")
        self.lr = _nonnegative(lr, "lr")
        self.steps = 0

    def _check(self, grads) -> list[np.ndarray]:
        keys, arrays = _unpack(grads, "grads")
        if len(arrays) != len(self.params):
            raise ValueError(f"got {len(arrays)} gradients for {len(self.params)} parameters")
        for k, (key, p_key, g, p) in enumerate(zip(keys, self.keys, arrays, self.params, strict=True)):
            if key is not None and p_key is not None and key != p_key:
                raise ValueError(f"gradient {k} is for {key} but parameter {k} is {p_key}: the orders differ")
            if g.shape != p.shape:
                raise ValueError(f"gradient {k} has shape {g.shape} but its parameter has shape {p.shape}")
        return arrays

    def step(self, grads) -> None:
        """Update every parameter in place from its gradient (same order as ``params``)."""
        grads = self._check(grads)
        self.steps += 1
        for i, (p, g) in enumerate(zip(self.params, grads, strict=True)):
            self._update(i, p, g.astype(p.dtype, copy=False))

    def _update(self, i: int, p: np.ndarray, g: np.ndarray) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum and L2 weight decay (as ``torch.optim.SGD``).

    ``SGD(params, lr, momentum=0.0, weight_decay=0.0)``. Per step, with gradient ``g``:
    ``g += weight_decay * p``; with momentum ``buf = momentum * buf + g`` (``buf = g``
    on the first step) and ``g = buf``; then ``p -= lr * g``.
    """

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(params, lr)
        self.momentum = _nonnegative(momentum, "momentum")
        self.weight_decay = _nonnegative(weight_decay, "weight_decay")
        self.buffers: list[np.ndarray | None] = [None] * len(self.params)

    def _update(self, i, p, g):
        if self.weight_decay:
            g = g + p.dtype.type(self.weight_decay) * p
        if self.momentum:
            buf = self.buffers[i]
            if buf is None:
                buf = self.buffers[i] = g.copy()
            else:
                buf *= p.dtype.type(self.momentum)
                buf += g
            g = buf
        p -= p.dtype.type(self.lr) * g


class Adam(Optimizer):
    """Adam (as ``torch.optim.Adam``): ``Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)``.

    Per step ``t``: ``m = b1*m + (1-b1)*g``, ``v = b2*v + (1-b2)*g**2`` and
    ``p -= lr / (1 - b1**t) * m / (sqrt(v / (1 - b2**t)) + eps)``. ``weight_decay``
    adds ``weight_decay * p`` to the gradient first (L2, as in torch's Adam; see
    :class:`AdamW` for decoupled decay).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2 and all(0 <= float(b) < 1 for b in betas)):
            raise ValueError(f"betas must be a pair of numbers in [0, 1); got {betas!r}")
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = _nonnegative(eps, "eps")
        self.weight_decay = _nonnegative(weight_decay, "weight_decay")
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]

    def _decay(self, p, g):
        return g + p.dtype.type(self.weight_decay) * p if self.weight_decay else g

    def _update(self, i, p, g):
        g = self._decay(p, g)
        b1, b2 = self.betas
        t = self.steps
        m, v = self.m[i], self.v[i]
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        step_size = self.lr / (1 - b1**t)
        denom = np.sqrt(v)
        denom /= p.dtype.type(np.sqrt(1 - b2**t))
        denom += p.dtype.type(self.eps)
        p -= p.dtype.type(step_size) * m / denom


class AdamW(Adam):
    """Adam with decoupled weight decay (as ``torch.optim.AdamW``, default ``weight_decay=0.01``).

    Each step first shrinks the weights, ``p *= 1 - lr * weight_decay``, then makes
    the plain Adam update (the decay never enters ``m`` and ``v``).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr, betas, eps, weight_decay)

    def _decay(self, p, g):
        if self.weight_decay:
            p *= p.dtype.type(1 - self.lr * self.weight_decay)
        return g
