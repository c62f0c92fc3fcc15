"""Layers of a NumPy CNN: functions in the cs231n style and the layer objects built on them.

Functions (``forward -> (out, cache)``, ``backward(dout, cache) -> gradients``):

* :func:`relu_forward` / :func:`relu_backward`
* :func:`sigmoid_forward` / :func:`sigmoid_backward` and :func:`tanh_forward` / :func:`tanh_backward`
* :func:`dense_forward` / :func:`dense_backward` (a fully connected layer)

Convolution and pooling functions live in :mod:`helpers.numpy.conv` and :mod:`helpers.numpy.pool`.

Layer objects (:class:`Conv2D`, :class:`MaxPool2D`, :class:`AvgPool2D`,
:class:`GlobalAvgPool`, :class:`ReLU`, :class:`Sigmoid`, :class:`Tanh`, :class:`Flatten`,
:class:`Dense`) share one
small interface, so that :class:`helpers.numpy.network.Sequential` can chain them:

* ``forward(x, train=True)`` returns the output; with ``train=True`` the layer keeps
  what its backward pass needs, with ``train=False`` (inference) it keeps nothing;
* ``backward(dout)`` returns ``dx = dL/dx`` and stores ``dL/dparam`` in ``grads``
  (overwriting the previous gradients, not adding to them);
* ``params`` and ``grads`` are dicts ``name -> array`` with the same keys (empty for
  layers without parameters). Optimizers update ``params`` arrays *in place*.

A new layer subclasses :class:`Layer` and implements two hooks: ``_forward(x, train)``
returning ``(out, cache)`` (layers whose computation does not depend on the mode,
most of them, just ignore ``train``) and ``_backward(dout, cache)`` returning ``dx``.
The base class keeps the cache between the two, drops it in inference mode and
refuses a backward pass without a training forward pass.

Weights follow PyTorch's layout, so they can be copied into ``torch.nn`` layers
as they are: ``Conv2D.params["w"]`` is ``(out_ch, in_ch, KH, KW)`` like
``nn.Conv2d.weight`` and ``Dense.params["w"]`` is ``(out_features, in_features)``
like ``nn.Linear.weight`` (the layer computes ``x @ w.T + b``).

Dtypes: parameters are created as ``dtype`` (float32 by default); the forward pass
computes in the promotion of the input and parameter dtypes described in
:mod:`helpers.numpy.arrays` (integer and boolean inputs take the parameters' float
dtype, or float64 alone; float16 computes in float32), so a float32 input through
float32 layers stays float32. Use ``dtype=np.float64`` for numerical gradient checks.
"""

from __future__ import annotations

import math

import numpy as np

from helpers.checks import as_generator, int_pair, positive_int
from helpers.numpy import conv, pool
from helpers.numpy.arrays import as_float, float_dtype, writeable

__all__ = [
    "relu_forward",
    "relu_backward",
    "sigmoid_forward",
    "sigmoid_backward",
    "tanh_forward",
    "tanh_backward",
    "dense_forward",
    "dense_backward",
    "Layer",
    "Conv2D",
    "MaxPool2D",
    "AvgPool2D",
    "GlobalAvgPool",
    "ReLU",
    "Sigmoid",
    "Tanh",
    "Flatten",
    "Dense",
    "concat_forward",
    "concat_backward",
]


# --------------------------------------------------------------------------- functions


def relu_forward(x):
    """ReLU, ``max(0, x)``, elementwise. Returns ``(out, cache)``.

    ``out`` keeps the dtype of a float32/float64 ``x``; integers and booleans become
    float64 and float16 float32 (see :mod:`helpers.numpy.arrays`).
    """
    x = as_float(x)
    positive = x > 0
    return x * positive, (positive,)


def relu_backward(dout, cache):
    """Backward pass of :func:`relu_forward`: the gradient passes where ``x > 0`` and is 0 elsewhere.

    At exactly ``x == 0`` the gradient is 0, as in PyTorch.
    """
    (positive,) = cache
    dout = as_float(dout, "dout")
    if dout.shape != positive.shape:
        raise ValueError(f"dout must have the forward output's shape {positive.shape}; got {dout.shape}")
    return dout * positive


def _check_same_shape(dout, out) -> np.ndarray:
    dout = as_float(dout, "dout", float_dtype(dout, out))
    if dout.shape != out.shape:
        raise ValueError(f"dout must have the forward output's shape {out.shape}; got {dout.shape}")
    return dout


def sigmoid_forward(x):
    """Logistic sigmoid ``1 / (1 + exp(-x))``, elementwise and without overflow. Returns ``(out, cache)``.

    For ``x < 0`` it is computed as ``exp(x) / (1 + exp(x))``, so ``exp`` never sees a
    large positive argument. float32/float64 input keeps its dtype; integers become float64
    and float16 float32 (see :mod:`helpers.numpy.arrays`).
    """
    x = as_float(x)
    e = np.exp(-np.abs(x))
    out = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
    return out, (out,)


def sigmoid_backward(dout, cache):
    """Backward pass of :func:`sigmoid_forward`: ``dx = dout * s * (1 - s)`` with ``s = sigmoid(x)``.

    The local slope ``s (1 - s)`` is at most 1/4 (at ``x = 0``), which is why deep
    sigmoid stacks shrink their gradients layer after layer.
    """
    (out,) = cache
    dout = _check_same_shape(dout, out)
    return dout * (out * (1 - out))


def tanh_forward(x):
    """Hyperbolic tangent, elementwise (dtypes as :func:`sigmoid_forward`). Returns ``(out, cache)``."""
    x = as_float(x)
    out = np.tanh(x)
    return out, (out,)


def tanh_backward(dout, cache):
    """Backward pass of :func:`tanh_forward`: ``dx = dout * (1 - tanh(x)**2)`` (a slope of at most 1)."""
    (out,) = cache
    dout = _check_same_shape(dout, out)
    return dout * (1 - out * out)


def dense_forward(x, w, b=None):
    """Fully connected layer ``out = x @ w.T + b`` (as ``torch.nn.functional.linear``).

    Parameters
    ----------
    x : array (N, D)
    w : array (M, D), PyTorch's ``nn.Linear.weight`` layout (out_features, in_features)
    b : array (M,) or None

    Returns ``(out, cache)`` with ``out`` of shape ``(N, M)``, computed in floating
    point (integer inputs take the float dtype of the others, see :mod:`helpers.numpy.arrays`).
    """
    dtype = float_dtype(x, w, b)
    x, w = as_float(x, "x", dtype), as_float(w, "w", dtype)
    if x.ndim != 2:
        hint = " Put a Flatten layer (or x.reshape(len(x), -1)) before it." if x.ndim > 2 else ""
        raise ValueError(f"x must have shape (N, D); got shape {x.shape} (ndim {x.ndim}).{hint}")
    if w.ndim != 2:
        raise ValueError(f"w must have shape (out_features, in_features); got shape {w.shape}")
    if x.shape[1] != w.shape[1]:
        raise ValueError(
            f"feature mismatch: x has {x.shape[1]} features per sample (shape {x.shape}) but w expects "
            f"{w.shape[1]} (w shape {w.shape}, i.e. (out_features, in_features))"
        )
    if b is not None:
        b = as_float(b, "b", dtype)
        if b.shape != (w.shape[0],):
            raise ValueError(f"b must have shape ({w.shape[0]},), one bias per output; got {b.shape}")
    out = x @ w.T
    if b is not None:
        out = out + b
    return out, (x, w, b is not None)


def dense_backward(dout, cache):
    """Backward pass of :func:`dense_forward`: returns ``(dx, dw, db)``.

    ``dx = dout @ w``, ``dw = dout.T @ x`` and ``db = dout.sum(axis=0)`` (``None``
    when the layer has no bias).
    """
    x, w, has_bias = cache
    dout = as_float(dout, "dout", float_dtype(dout, x, w))
    if dout.shape != (x.shape[0], w.shape[0]):
        raise ValueError(f"dout must have the forward output's shape {(x.shape[0], w.shape[0])}; got {dout.shape}")
    dx = dout @ w
    dw = dout.T @ x
    db = dout.sum(axis=0) if has_bias else None
    return dx, dw, db


# --------------------------------------------------------------------------- layer objects


class Layer:
    """Base class of the layer objects: no parameters, and the whole forward/backward protocol.

    Subclasses implement only the two hooks

    * ``_forward(x, train) -> (out, cache)``: the output and what the backward pass
      needs; ``train`` says whether this is a training or an inference pass (batch
      normalization and dropout behave differently; the other layers ignore it);
    * ``_backward(dout, cache) -> dx``: the input gradient; parameter gradients go to
      ``grads`` (:meth:`_set_grads` casts them to the parameters' dtypes).

    :meth:`forward` keeps the cache only when ``train`` is true, and :meth:`backward`
    refuses to run without one.
    """

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self._cache = None

    def forward(self, x, train: bool = True):
        """Output of the layer for the batch ``x``; keeps the cache for :meth:`backward` when ``train``."""
        train = bool(train)
        out, cache = self._forward(x, train)
        self._cache = cache if train else None
        return out

    skips_input_grad = False   # True where _backward accepts input_grad=False (Conv2D)

    def backward(self, dout, input_grad: bool = True):
        """Gradient of the loss with respect to the layer's input; parameter gradients go to ``grads``.

        ``input_grad=False`` says nobody needs the input gradient (a network's first layer): a layer that can skip
        computing it (``skips_input_grad``) then returns ``None``; the others compute it anyway."""
        if self._cache is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward needs a preceding forward(x, train=True) "
                "(forward with train=False keeps nothing for the backward pass)"
            )
        if not input_grad and self.skips_input_grad:
            return self._backward(dout, self._cache, input_grad=False)
        return self._backward(dout, self._cache)

    def __call__(self, x, train: bool = True):
        """Same as :meth:`forward`."""
        return self.forward(x, train)

    def _forward(self, x, train: bool):  # pragma: no cover - overridden
        raise NotImplementedError

    def _backward(self, dout, cache):  # pragma: no cover - overridden
        raise NotImplementedError

    def _set_grads(self, **grads):
        for name, g in grads.items():
            self.grads[name] = g.astype(self.params[name].dtype, copy=False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Conv2D(Layer):
    """2-D convolution layer (as ``torch.nn.Conv2d``), built on :func:`helpers.numpy.conv.conv2d_forward`.

    ``Conv2D(in_ch, out_ch, kernel, stride=1, padding=0, rng=None, dtype=np.float32, bias=True)``;
    ``kernel``, ``stride`` and ``padding`` are each an int or a pair ``(h, w)``, as in PyTorch.
    Weights ``w`` of shape ``(out_ch, in_ch, KH, KW)`` get He initialization,
    ``N(0, 2 / fan_in)`` with ``fan_in = in_ch*KH*KW`` (right for a ReLU that
    follows); biases ``b`` start at 0. ``rng`` is a NumPy ``Generator`` or an int
    seed (``None``: unseeded). Input ``(N, in_ch, H, W)``, output ``(N, out_ch, OH, OW)``.
    """

    def __init__(self, in_ch, out_ch, kernel, stride=1, padding=0, rng=None, dtype=np.float32, bias=True):
        super().__init__()
        in_ch, out_ch = positive_int(in_ch, "in_ch"), positive_int(out_ch, "out_ch")
        kh, kw = int_pair(kernel, "kernel", minimum=1)
        int_pair(stride, "stride", minimum=1)
        int_pair(padding, "padding", minimum=0)
        self.in_ch, self.out_ch, self.kernel, self.stride, self.padding = in_ch, out_ch, (kh, kw), stride, padding
        fan_in = in_ch * kh * kw
        std = np.sqrt(2.0 / fan_in)
        self.params["w"] = (as_generator(rng).standard_normal((out_ch, in_ch, kh, kw)) * std).astype(dtype)
        self.grads["w"] = np.zeros_like(self.params["w"])
        if bias:
            self.params["b"] = np.zeros(out_ch, dtype=dtype)
            self.grads["b"] = np.zeros_like(self.params["b"])

    def _forward(self, x, train):
        return conv.conv2d_forward(x, self.params["w"], self.params.get("b"), self.stride, self.padding)

    skips_input_grad = True

    def _backward(self, dout, cache, input_grad: bool = True):
        dx, dw, db = conv.conv2d_backward(dout, cache, input_grad=input_grad)
        self._set_grads(w=dw, **({"b": db} if db is not None else {}))
        return dx

    def __repr__(self) -> str:
        k = self.kernel[0] if self.kernel[0] == self.kernel[1] else self.kernel
        return (
            f"Conv2D({self.in_ch}, {self.out_ch}, kernel={k}, stride={self.stride}, padding={self.padding}"
            f"{'' if 'b' in self.params else ', bias=False'})"
        )


class Dense(Layer):
    """Fully connected layer (as ``torch.nn.Linear``), built on :func:`dense_forward`.

    ``Dense(in_features, out_features, rng=None, dtype=np.float32, bias=True)``.
    Weights ``w`` of shape ``(out_features, in_features)`` get He initialization
    ``N(0, 2 / in_features)``; biases ``b`` start at 0. Input ``(N, in_features)``.
    """

    def __init__(self, in_features, out_features, rng=None, dtype=np.float32, bias=True):
        super().__init__()
        self.in_features = positive_int(in_features, "in_features")
        self.out_features = positive_int(out_features, "out_features")
        std = np.sqrt(2.0 / self.in_features)
        w = as_generator(rng).standard_normal((self.out_features, self.in_features)) * std
        self.params["w"] = w.astype(dtype)
        self.grads["w"] = np.zeros_like(self.params["w"])
        if bias:
            self.params["b"] = np.zeros(self.out_features, dtype=dtype)
            self.grads["b"] = np.zeros_like(self.params["b"])

    def _forward(self, x, train):
        return dense_forward(x, self.params["w"], self.params.get("b"))

    def _backward(self, dout, cache):
        dx, dw, db = dense_backward(dout, cache)
        self._set_grads(w=dw, **({"b": db} if db is not None else {}))
        return dx

    def __repr__(self) -> str:
        return f"Dense({self.in_features}, {self.out_features}{'' if 'b' in self.params else ', bias=False'})"


class ReLU(Layer):
    """Elementwise ``max(0, x)`` (as ``torch.nn.ReLU``), built on :func:`relu_forward`."""

    def _forward(self, x, train):
        return relu_forward(x)

    def _backward(self, dout, cache):
        return relu_backward(dout, cache)


class Sigmoid(Layer):
    """Elementwise logistic sigmoid (as ``torch.nn.Sigmoid``), built on :func:`sigmoid_forward`."""

    def _forward(self, x, train):
        return sigmoid_forward(x)

    def _backward(self, dout, cache):
        return sigmoid_backward(dout, cache)


class Tanh(Layer):
    """Elementwise hyperbolic tangent (as ``torch.nn.Tanh``), built on :func:`tanh_forward`."""

    def _forward(self, x, train):
        return tanh_forward(x)

    def _backward(self, dout, cache):
        return tanh_backward(dout, cache)


class _Pool(Layer):
    _functions = None  # (forward, backward) of helpers.numpy.pool

    def __init__(self, kernel, stride=None, padding=0):
        super().__init__()
        pool.pool_args(kernel, stride, padding)  # validate the arguments early
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def _forward(self, x, train):
        return self._functions[0](x, self.kernel, self.stride, self.padding)

    def _backward(self, dout, cache):
        return self._functions[1](dout, cache)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kernel={self.kernel}, stride={self.stride}, padding={self.padding})"


class MaxPool2D(_Pool):
    """Max pooling (as ``torch.nn.MaxPool2d``): ``MaxPool2D(kernel, stride=None, padding=0)``.

    ``stride=None`` means ``stride = kernel``. Ties send the gradient to the first
    maximum of the window in row-major order, like PyTorch (see :mod:`helpers.numpy.pool`).
    ``kernel``, ``stride`` and ``padding`` are each an int or a pair ``(h, w)``.
    """

    _functions = (pool.max_pool2d_forward, pool.max_pool2d_backward)


class AvgPool2D(_Pool):
    """Average pooling (as ``torch.nn.AvgPool2d``): ``AvgPool2D(kernel, stride=None, padding=0)``.

    Zero padding counts in the average (PyTorch's default ``count_include_pad=True``).
    """

    _functions = (pool.avg_pool2d_forward, pool.avg_pool2d_backward)


class GlobalAvgPool(Layer):
    """Mean of every feature map, ``(N, C, H, W) -> (N, C)`` (as ``nn.AdaptiveAvgPool2d(1)`` + ``nn.Flatten()``)."""

    def _forward(self, x, train):
        return pool.global_avg_pool_forward(x)

    def _backward(self, dout, cache):
        return pool.global_avg_pool_backward(dout, cache)


class Flatten(Layer):
    """Reshape ``(N, ...)`` to ``(N, features)`` (as ``torch.nn.Flatten``), e.g. between conv and dense layers."""

    def _forward(self, x, train):
        x = np.asarray(x)
        if x.ndim < 1:
            raise ValueError("x must have a batch axis; got a scalar")
        return writeable(x.reshape(x.shape[0], -1)), (x.shape,)

    def _backward(self, dout, cache):
        (shape,) = cache
        dout = np.asarray(dout)
        if dout.size != math.prod(shape) or dout.shape[:1] != shape[:1]:
            raise ValueError(f"dout must have {shape[0]} rows of {math.prod(shape[1:])} features; got {dout.shape}")
        return writeable(dout.reshape(shape))


# ----------------------------------------------------------------------------- concatenation
def concat_forward(a, b):
    """Concatenate ``a`` (N, Ca, H, W) and ``b`` (N, Cb, H, W) along channels; returns ``(out, cache)``."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 4 or b.ndim != 4:
        raise ValueError(f"concat_forward expects two (N, C, H, W) arrays; got shapes {a.shape} and {b.shape}")
    if a.shape[0] != b.shape[0] or a.shape[2:] != b.shape[2:]:
        raise ValueError(f"batch size and H, W must match to concatenate channels; got {a.shape} and {b.shape}")
    return np.concatenate([a, b], axis=1), a.shape[1]


def concat_backward(dout, cache):
    """Backward of :func:`concat_forward`: split ``dout`` back into ``(da, db)`` along channels.

    ``da`` and ``db`` are views of ``dout`` (copies when ``dout`` is read-only).
    """
    dout = np.asarray(dout)
    ca = cache
    if dout.ndim != 4 or dout.shape[1] <= ca:
        raise ValueError(f"dout must be (N, C, H, W) with more than {ca} channels; got {dout.shape}")
    return writeable(dout[:, :ca]), writeable(dout[:, ca:])
