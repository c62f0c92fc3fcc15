"""A NumPy network: a chain of :mod:`helpers.layers` objects, and a whole-network gradient check.

A training step with :class:`Sequential`, :func:`helpers.losses.softmax_cross_entropy`
and an optimizer from :mod:`helpers.optim`::

    rng = np.random.default_rng(0)
    net = Sequential([Conv2D(1, 8, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
                      Flatten(), Dense(8 * 14 * 14, 10, rng=rng)])
    opt = Adam(net.parameters(), lr=1e-3)
    logits = net.forward(xb, train=True)
    loss, dlogits = softmax_cross_entropy(logits, yb)
    net.backward(dlogits)
    opt.step(net.gradients())
"""

from __future__ import annotations

import numpy as np

from helpers.gradcheck import rel_error
from helpers.losses import softmax_cross_entropy

__all__ = ["Sequential", "numerical_check"]


class Sequential:
    """Layers applied one after the other (as ``torch.nn.Sequential``).

    ``Sequential(layers)`` takes a list of layer objects (anything with ``forward(x,
    train)``, ``backward(dout)``, ``params`` and ``grads``).
    """

    def __init__(self, layers):
        self.layers = list(layers)
        if not self.layers:
            raise ValueError("Sequential needs at least one layer")
        for i, layer in enumerate(self.layers):
            missing = [a for a in ("forward", "backward", "params", "grads") if not hasattr(layer, a)]
            if missing:
                raise ValueError(f"layer {i} ({layer!r}) is not a layer: it has no {', '.join(missing)}")

    def forward(self, x, train: bool = True):
        """Output of the last layer; ``train=True`` keeps every layer's cache for :meth:`backward`."""
        for layer in self.layers:
            x = layer.forward(x, train)
        return x

    __call__ = forward

    def backward(self, dout):
        """Backpropagate ``dout = dL/d(output)`` through every layer; returns ``dL/d(input)``.

        Afterwards every layer's ``grads`` holds the gradients of its parameters.
        """
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def parameters(self) -> list[tuple[int, str, np.ndarray]]:
        """Every parameter array as ``(layer_index, name, array)``, in layer order (the arrays themselves)."""
        return [(i, name, p) for i, layer in enumerate(self.layers) for name, p in layer.params.items()]

    def gradients(self) -> list[tuple[int, str, np.ndarray]]:
        """The gradients of the last :meth:`backward`, in the same order as :meth:`parameters`."""
        return [(i, name, layer.grads[name]) for i, layer in enumerate(self.layers) for name in layer.params]

    def num_parameters(self) -> int:
        """Total number of trainable numbers."""
        return sum(p.size for _, _, p in self.parameters())

    def predict(self, x, batch_size: int = 256):
        """Outputs (e.g. logits) for all of ``x`` in inference mode, ``batch_size`` samples at a time.

        Nothing is kept for a backward pass. For class predictions use
        ``net.predict(x).argmax(axis=1)``.
        """
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        x = np.asarray(x)
        if len(x) == 0:
            raise ValueError("x is empty: nothing to predict")
        return np.concatenate([self.forward(x[i : i + batch_size], train=False) for i in range(0, len(x), batch_size)])

    def accuracy(self, x, y, batch_size: int = 256) -> float:
        """Fraction of samples whose largest output is at the label ``y``."""
        y = np.asarray(y)
        if len(y) != len(x):
            raise ValueError(f"x has {len(x)} samples but y has {len(y)} labels")
        return float(np.mean(self.predict(x, batch_size).argmax(axis=1) == y))

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def __repr__(self) -> str:
        lines = [f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers)]
        return "Sequential(\n" + "\n".join(lines) + "\n)"


def numerical_check(network, x, y, loss=softmax_cross_entropy, h: float = 1e-5, num_checks=None, seed: int = 0):
    """Compare the network's backward pass with central differences of the loss; returns relative errors.

    The analytic gradients come from ``network.forward(x)``, ``loss(out, y)`` and
    ``network.backward(dloss)``. Each checked number is then nudged by ``+h`` and
    ``-h`` and the loss recomputed: ``(L(+h) - L(-h)) / 2h``. ``num_checks``
    limits the check to that many randomly chosen entries per array (``None``: all).

    Returns a dict ``"input"`` / ``"<layer index>.<name>"`` -> largest relative
    error (:func:`helpers.gradcheck.rel_error`); about 1e-7 or less means the
    backward pass is right. The network must be float64 (``dtype=np.float64``
    layers) and ``x`` a float64 array: in float32 the differences drown in rounding.
    """
    x = np.array(x, dtype=np.float64)  # a copy: the check perturbs it
    bad = [f"{i}.{name} ({p.dtype})" for i, name, p in network.parameters() if p.dtype != np.float64]
    if bad:
        raise ValueError(f"numerical_check needs float64 parameters (build layers with dtype=np.float64); got {bad}")

    def loss_value():
        return loss(network.forward(x, train=True), y)[0]

    _, dout = loss(network.forward(x, train=True), y)
    analytic = {"input": network.backward(dout)}
    analytic.update({f"{i}.{name}": g.copy() for i, name, g in network.gradients()})
    arrays = {"input": x, **{f"{i}.{name}": p for i, name, p in network.parameters()}}
    rng = np.random.default_rng(seed)
    errors = {}
    for key, array in arrays.items():
        flat = array.reshape(-1)  # a view: writing to it perturbs the array in place
        if num_checks is None or num_checks >= flat.size:
            indices = np.arange(flat.size)
        else:
            indices = rng.choice(flat.size, size=num_checks, replace=False)
        numeric = np.empty(len(indices))
        for k, idx in enumerate(indices):
            old = flat[idx]
            flat[idx] = old + h
            plus = loss_value()
            flat[idx] = old - h
            minus = loss_value()
            flat[idx] = old
            numeric[k] = (plus - minus) / (2 * h)
        errors[key] = rel_error(analytic[key].reshape(-1)[indices], numeric)
    return errors
