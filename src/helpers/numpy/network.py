"""A NumPy network: a chain of :mod:`helpers.numpy.layers` objects, and a whole-network gradient check.

A training step with :class:`Sequential`, :func:`helpers.numpy.losses.softmax_cross_entropy`
and an optimizer from :mod:`helpers.numpy.optim`::

    rng = np.random.default_rng(0)
    net = Sequential([Conv2D(1, 8, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
                      Flatten(), Dense(8 * 14 * 14, 10, rng=rng)])
    opt = Adam(net.parameters(), lr=1e-3)
    logits = net.forward(xb, train=True)
    loss, dlogits = softmax_cross_entropy(logits, yb)
    net.backward(dlogits)
    opt.step(net.gradients())

Trained weights go to a ``.npz`` file with :meth:`Sequential.save_weights` and come
back into a network of the same architecture with :meth:`Sequential.load_weights`.
:func:`to_torch` builds the same network in PyTorch with the same weights (to
compare gradients with autograd, or to train it with ``torch.optim``).
"""

from __future__ import annotations

import os

import numpy as np

from helpers.checks import positive_int
from helpers.numpy.gradcheck import rel_error
from helpers.numpy.losses import softmax_cross_entropy

__all__ = ["Sequential", "numerical_check", "to_torch"]


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

    def backward(self, dout, input_grad: bool = True):
        """Backpropagate ``dout = dL/d(output)`` through every layer; returns ``dL/d(input)``.

        Afterwards every layer's ``grads`` holds the gradients of its parameters. ``input_grad=False`` (training,
        where the input is data) lets the first layer skip the input gradient when it can (a convolution; it then
        returns ``None``): the same parameter gradients, one product and one col2im fewer per step.
        """
        for layer in self.layers[:0:-1]:
            dout = layer.backward(dout)
        first = self.layers[0]
        if not input_grad and getattr(first, "skips_input_grad", False):     # any other layer object: as before
            return first.backward(dout, input_grad=False)
        return first.backward(dout)

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
        batch_size = positive_int(batch_size, "batch_size")
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

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter, keyed ``"<layer index>.<name>"`` (e.g. ``"0.w"``, ``"7.b"``)."""
        return {f"{i}.{name}": p.copy() for i, name, p in self.parameters()}

    def save_weights(self, path) -> None:
        """Write every parameter to the ``.npz`` file ``path`` (keys as in :meth:`state_dict`)."""
        np.savez(path, **self.state_dict())

    def load_weights(self, source) -> None:
        """Copy weights into this network *in place*: from a ``.npz`` path or a dict like :meth:`state_dict`.

        The keys and shapes must match the network's parameters exactly (the same
        architecture); the values are cast to each parameter's dtype. Arrays are
        overwritten in place, so an optimizer built on :meth:`parameters` keeps working.
        """
        if isinstance(source, (str, os.PathLike)):
            with np.load(source) as f:
                weights = {k: f[k] for k in f.files}
        elif isinstance(source, dict):
            weights = source
        else:
            raise ValueError(f"load_weights needs a .npz path or a dict of arrays; got {type(source).__name__}")
        own = {f"{i}.{name}": p for i, name, p in self.parameters()}
        if set(weights) != set(own):
            missing, extra = sorted(set(own) - set(weights)), sorted(set(weights) - set(own))
            raise ValueError(
                f"the weights do not fit this network (a different architecture?): missing {missing}, "
                f"unexpected {extra}"
            )
        for key, p in own.items():
            w = np.asarray(weights[key])
            if w.shape != p.shape:
                raise ValueError(f"weight {key} has shape {w.shape} but the network's parameter has {p.shape}")
        for key, p in own.items():
            p[...] = np.asarray(weights[key]).astype(p.dtype, copy=False)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def __repr__(self) -> str:
        lines = [f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers)]
        return "Sequential(\n" + "\n".join(lines) + "\n)"


def numerical_check(network, x, y, loss=softmax_cross_entropy, h: float = 1e-5, num_checks=None, seed: int = 0,
                    reduce: str = "max"):
    """Compare the network's backward pass with central differences of the loss; returns relative errors.

    The analytic gradients come from ``network.forward(x)``, ``loss(out, y)`` and
    ``network.backward(dloss)``. Each checked number is then nudged by ``+h`` and
    ``-h`` and the loss recomputed: ``(L(+h) - L(-h)) / 2h``. ``num_checks``
    limits the check to that many randomly chosen entries per array (``None``: all).

    Returns a dict ``"input"`` / ``"<layer index>.<name>"`` -> relative error.
    With ``reduce="max"`` (the default) it is the largest elementwise relative
    error (:func:`helpers.numpy.gradcheck.rel_error`); about 1e-7 or less means the
    backward pass is right. With ``reduce="norm"`` it is
    ``|g - g_num| / (|g| + |g_num|)`` over the checked entries of each array
    (Euclidean norms), which is not thrown off by single entries that are
    almost zero. The network must be float64 (``dtype=np.float64`` layers) and
    ``x`` a float64 array: in float32 the differences drown in rounding.
    """
    if reduce not in ("max", "norm"):
        raise ValueError(f"reduce must be 'max' or 'norm', got {reduce!r}")
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
        picked = analytic[key].reshape(-1)[indices]
        if reduce == "max":
            errors[key] = rel_error(picked, numeric)
        else:
            errors[key] = float(np.linalg.norm(picked - numeric) /
                                max(1e-12, np.linalg.norm(picked) + np.linalg.norm(numeric)))
    return errors


def to_torch(network):
    """The same network as a ``torch.nn.Sequential``, with copies of the NumPy weights.

    Supports the layers of :mod:`helpers.numpy.layers` (``Conv2D``, ``Dense``, ``ReLU``,
    ``Sigmoid``, ``Tanh``, ``MaxPool2D``, ``AvgPool2D``, ``GlobalAvgPool``,
    ``Flatten``); the PyTorch modules get the dtype of the NumPy parameters
    (float32 or float64). Module ``i`` of the result corresponds to layer ``i``
    (``GlobalAvgPool`` becomes one ``nn.Sequential(AdaptiveAvgPool2d(1), Flatten())``),
    so ``model[i].weight.grad`` is comparable to ``network[i].grads["w"]``.
    """
    import torch
    from torch import nn

    from helpers.numpy import layers as L

    if not isinstance(network, Sequential):
        raise ValueError(f"to_torch needs a helpers.numpy.network.Sequential; got {type(network).__name__}")
    dtypes = {p.dtype for _, _, p in network.parameters()}
    if len(dtypes) > 1:
        raise ValueError(f"all parameters must share one dtype; got {sorted(str(d) for d in dtypes)}")
    dtype = torch.float64 if dtypes == {np.dtype(np.float64)} else torch.float32
    modules = []
    for i, layer in enumerate(network.layers):
        if isinstance(layer, L.Conv2D):
            m = nn.Conv2d(layer.in_ch, layer.out_ch, layer.kernel, stride=layer.stride, padding=layer.padding,
                          bias="b" in layer.params)
        elif isinstance(layer, L.Dense):
            m = nn.Linear(layer.in_features, layer.out_features, bias="b" in layer.params)
        elif isinstance(layer, (L.MaxPool2D, L.AvgPool2D)):
            cls = nn.MaxPool2d if isinstance(layer, L.MaxPool2D) else nn.AvgPool2d
            m = cls(layer.kernel, stride=layer.stride, padding=layer.padding)
        elif isinstance(layer, L.GlobalAvgPool):
            m = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        else:
            simple = {L.ReLU: nn.ReLU, L.Sigmoid: nn.Sigmoid, L.Tanh: nn.Tanh, L.Flatten: nn.Flatten}
            if type(layer) not in simple:
                raise ValueError(f"layer {i} ({layer!r}) has no PyTorch counterpart in to_torch")
            m = simple[type(layer)]()
        m = m.to(dtype)
        with torch.no_grad():
            for name, t_name in (("w", "weight"), ("b", "bias")):
                if name in layer.params:
                    getattr(m, t_name).copy_(torch.from_numpy(np.ascontiguousarray(layer.params[name])))
        modules.append(m)
    return nn.Sequential(*modules)
