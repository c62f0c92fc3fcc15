"""Optimizers that update NumPy arrays in place: SGD (with momentum or Nesterov momentum), RMSprop, Adam, AdamW.

Each follows the update rule of its ``torch.optim`` namesake step for step, so
the same arrays and gradients give the same numbers. Usage with
:class:`helpers.numpy.network.Sequential`::

    opt = Adam(net.parameters(), lr=1e-3)
    ...
    net.backward(dlogits)
    opt.step(net.gradients())

``params`` (and the ``grads`` given to :meth:`Optimizer.step`) may be a list of
arrays or the list of ``(layer_index, name, array)`` tuples of
``Sequential.parameters()`` / ``Sequential.gradients()``. The arrays are changed
*in place*, so whoever holds them (the layers) sees the new values; 0-d arrays
(scalar parameters) are arrays too and work like any other. ``lr`` is an
attribute: change it between steps for a learning-rate schedule.

Hyperparameters are checked as PyTorch checks them, and NaN or infinity is always
refused (a NaN learning rate would silently turn every parameter into NaN):
``lr >= 0``, ``momentum`` in ``[0, 1)``, each of ``betas`` in ``[0, 1)``, ``eps > 0``
and ``weight_decay >= 0``; a bad value raises ``ValueError`` naming it.
"""

from __future__ import annotations

import numpy as np

from helpers.checks import number

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW"]


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
        self.lr = lr
        self.steps = 0

    @property
    def lr(self) -> float:
        """The learning rate, a finite number >= 0; setting it (a schedule) checks the new value."""
        return self._lr

    @lr.setter
    def lr(self, value) -> None:
        self._lr = number(value, "lr", low=0)

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

    ``SGD(params, lr, momentum=0.0, weight_decay=0.0, nesterov=False)``. Per step, with
    gradient ``g``: ``g += weight_decay * p``; with momentum ``buf = momentum * buf + g``
    (``buf = g`` on the first step) and ``g = buf``, or with ``nesterov=True``
    ``g = g + momentum * buf`` (the gradient "looked ahead" along the velocity, in the
    form PyTorch and Sutskever et al. 2013 use); then ``p -= lr * g``.
    """

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr)
        self.momentum = number(momentum, "momentum", low=0, high=1, high_open=True)
        self.weight_decay = number(weight_decay, "weight_decay", low=0)
        if not isinstance(nesterov, bool):
            raise ValueError(f"nesterov must be True or False; got {nesterov!r}")
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs a momentum > 0 (as torch.optim.SGD)")
        self.nesterov = nesterov
        self.buffers: list[np.ndarray | None] = [None] * len(self.params)

    def _update(self, i, p, g):
        # Arithmetic on 0-d arrays returns NumPy scalars, not arrays, so every result that
        # must stay an array (the momentum buffer, the parameter) is written with out=.
        if self.weight_decay:
            g = np.asarray(g + p.dtype.type(self.weight_decay) * p)
        if self.momentum:
            buf = self.buffers[i]
            if buf is None:
                buf = self.buffers[i] = np.array(g, dtype=p.dtype)  # always an array, even for 0-d
            else:
                np.multiply(buf, p.dtype.type(self.momentum), out=buf)
                np.add(buf, g, out=buf)
            g = np.asarray(g + p.dtype.type(self.momentum) * buf) if self.nesterov else buf
        np.subtract(p, p.dtype.type(self.lr) * g, out=p)


class RMSprop(Optimizer):
    """RMSprop (as ``torch.optim.RMSprop``).

    ``RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0)``.

    Per step: ``g += weight_decay * p``; ``s = alpha*s + (1-alpha)*g**2`` (``s`` starts at 0);
    the step is ``g / (sqrt(s) + eps)``, each parameter divided by the running size of its own
    gradients; with momentum ``buf = momentum*buf + step`` and ``p -= lr * buf``, else
    ``p -= lr * step``. Unlike Adam there is no first moment and no bias correction.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0):
        super().__init__(params, lr)
        self.alpha = number(alpha, "alpha", low=0, high=1, high_open=True)
        self.eps = number(eps, "eps", low=0, low_open=True)
        self.weight_decay = number(weight_decay, "weight_decay", low=0)
        self.momentum = number(momentum, "momentum", low=0, high=1, high_open=True)
        self.square_avg = [np.zeros_like(p) for p in self.params]
        self.buffers = [np.zeros_like(p) for p in self.params]

    def _update(self, i, p, g):
        if self.weight_decay:
            g = np.asarray(g + p.dtype.type(self.weight_decay) * p)
        s = self.square_avg[i]
        np.multiply(s, p.dtype.type(self.alpha), out=s)
        np.add(s, p.dtype.type(1 - self.alpha) * g * g, out=s)
        step = g / (np.sqrt(s) + p.dtype.type(self.eps))
        if self.momentum:
            buf = self.buffers[i]
            np.multiply(buf, p.dtype.type(self.momentum), out=buf)
            np.add(buf, step, out=buf)
            step = buf
        np.subtract(p, p.dtype.type(self.lr) * step, out=p)


class Adam(Optimizer):
    """Adam (as ``torch.optim.Adam``): ``Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)``.

    Per step ``t``: ``m = b1*m + (1-b1)*g``, ``v = b2*v + (1-b2)*g**2`` and
    ``p -= lr / (1 - b1**t) * m / (sqrt(v / (1 - b2**t)) + eps)``. ``weight_decay``
    adds ``weight_decay * p`` to the gradient first (L2, as in torch's Adam; see
    :class:`AdamW` for decoupled decay).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
            raise ValueError(f"betas must be a pair of numbers in [0, 1); got {betas!r}")
        self.betas = tuple(number(b, f"betas[{k}]", low=0, high=1, high_open=True) for k, b in enumerate(betas))
        self.eps = number(eps, "eps", low=0, low_open=True)
        self.weight_decay = number(weight_decay, "weight_decay", low=0)
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]

    def _decay(self, p, g):
        return g + p.dtype.type(self.weight_decay) * p if self.weight_decay else g

    def _update(self, i, p, g):
        g = self._decay(p, g)
        b1, b2 = self.betas
        t = self.steps
        m, v = self.m[i], self.v[i]  # arrays updated with out=, so that 0-d moments stay arrays
        np.multiply(m, p.dtype.type(b1), out=m)
        np.add(m, p.dtype.type(1 - b1) * g, out=m)
        np.multiply(v, p.dtype.type(b2), out=v)
        np.add(v, p.dtype.type(1 - b2) * g * g, out=v)
        step_size = self.lr / (1 - b1**t)
        denom = np.sqrt(v) / p.dtype.type(np.sqrt(1 - b2**t)) + p.dtype.type(self.eps)
        np.subtract(p, p.dtype.type(step_size) * m / denom, out=p)


class AdamW(Adam):
    """Adam with decoupled weight decay (as ``torch.optim.AdamW``, default ``weight_decay=0.01``).

    Each step first shrinks the weights, ``p *= 1 - lr * weight_decay``, then makes
    the plain Adam update (the decay never enters ``m`` and ``v``).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr, betas, eps, weight_decay)

    def _decay(self, p, g):
        if self.weight_decay:
            np.multiply(p, p.dtype.type(1 - self.lr * self.weight_decay), out=p)
        return g
