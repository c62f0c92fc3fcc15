"""Batch normalization in NumPy: forward with running statistics, the compact backward, and a layer object.

For a dense input ``x`` of shape ``(N, D)`` every feature ``d`` is normalized over
the batch; for a convolutional input ``(N, C, H, W)`` every channel ``c`` is
normalized over the batch *and* all positions (``N*H*W`` numbers per channel), so
that the same scale ``gamma[c]`` and shift ``beta[c]`` apply everywhere in a
feature map, as in ``torch.nn.BatchNorm1d`` / ``torch.nn.BatchNorm2d``:

    x_hat = (x - mean) / sqrt(var + eps),    out = gamma * x_hat + beta

* **train mode** uses the batch's mean and *biased* variance (divide by ``M``, the
  number of values per channel) and updates the running statistics in place with
  PyTorch's convention, ``running = (1 - momentum) * running + momentum * batch``,
  where the running variance receives the *unbiased* batch variance (divide by ``M - 1``);
* **eval mode** uses the running statistics, so the output of a sample no longer
  depends on the rest of its batch.

The API follows cs231n: :func:`batchnorm_forward` returns ``(out, cache)`` and
:func:`batchnorm_backward(dout, cache) <batchnorm_backward>` returns ``(dx, dgamma, dbeta)``.
:class:`BatchNorm` wraps them in the layer interface of :mod:`helpers.numpy.layers`.

Dtypes follow :mod:`helpers.numpy.arrays`: integer and boolean inputs take the
floating dtype of ``gamma``/``beta`` (float64 if none is floating), float16
computes in float32.
"""

from __future__ import annotations

import numpy as np

from helpers.checks import number, positive_int
from helpers.numpy.arrays import as_float, float_dtype
from helpers.numpy.layers import Layer

__all__ = ["batchnorm_forward", "batchnorm_backward", "BatchNorm"]


def _axes(x_shape) -> tuple[int, ...]:
    """Axes reduced for one channel's statistics: the batch axis and, for images, the spatial axes."""
    return (0,) if len(x_shape) == 2 else (0, 2, 3)


def _per_channel(a, x_ndim: int):
    """View a ``(C,)`` vector so that it broadcasts against ``(N, C)`` or ``(N, C, H, W)``."""
    return a if x_ndim == 2 else a.reshape(1, -1, 1, 1)


def _check_vector(value, name: str, channels: int, x_shape, *, running: bool):
    if running:
        if not isinstance(value, np.ndarray):
            raise ValueError(
                f"{name} must be a NumPy array of shape ({channels},) (it is updated in place); "
                f"got {type(value).__name__}"
            )
        if not np.issubdtype(value.dtype, np.floating):
            raise ValueError(f"{name} must be a floating-point array (it is updated in place); got {value.dtype}")
    else:
        value = np.asarray(value)
    if value.shape != (channels,):
        raise ValueError(
            f"{name} must have shape ({channels},), one value per channel of x (shape {tuple(x_shape)}); "
            f"got {value.shape}"
        )
    return value


def batchnorm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1, eps=1e-5):
    """Forward pass of batch normalization (as ``nn.BatchNorm1d`` / ``nn.BatchNorm2d``).

    Parameters
    ----------
    x : array (N, D) or (N, C, H, W)
    gamma, beta : arrays (D,) or (C,)
        Learned scale and shift (PyTorch's ``weight`` and ``bias``).
    running_mean, running_var : float arrays (D,) or (C,)
        Running statistics. In train mode they are **updated in place** (pass
        ``None`` for both to skip the update, like ``track_running_stats=False``);
        in eval mode they normalize ``x`` and are required.
    train : bool
        ``True``: normalize with the batch statistics; ``False``: with the running ones.
    momentum : float in [0, 1]
        Weight of the new batch in the running averages (PyTorch's convention; 0.1 by default).
    eps : float > 0
        Added to the variance before the square root.

    Returns
    -------
    out : array of the shape of ``x``
    cache : what :func:`batchnorm_backward` needs
    """
    x = np.asarray(x)
    if x.ndim not in (2, 4):
        raise ValueError(
            f"x must have shape (N, D) for dense features or (N, C, H, W) for feature maps; "
            f"got shape {x.shape} (ndim {x.ndim})"
        )
    if min(x.shape) < 1:
        raise ValueError(f"x is empty: shape {x.shape}")
    channels = x.shape[1]
    gamma = _check_vector(gamma, "gamma", channels, x.shape, running=False)
    beta = _check_vector(beta, "beta", channels, x.shape, running=False)
    if (running_mean is None) != (running_var is None):
        raise ValueError("pass both running_mean and running_var, or neither")
    if running_mean is not None:
        running_mean = _check_vector(running_mean, "running_mean", channels, x.shape, running=True)
        running_var = _check_vector(running_var, "running_var", channels, x.shape, running=True)
    elif not train:
        raise ValueError("eval mode (train=False) normalizes with running_mean and running_var; got None")
    momentum = number(momentum, "momentum", low=0, high=1)
    eps = number(eps, "eps", low=0, low_open=True)

    dtype = float_dtype(x, gamma, beta)  # integer inputs are computed in floating point
    x = as_float(x, "x", dtype)
    axes = _axes(x.shape)
    m = x.size // channels  # values per channel
    if train:
        if m < 2:
            raise ValueError(
                f"train mode needs more than 1 value per channel to compute a variance; got x of shape {x.shape}"
            )
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)  # biased: divides by m; this is what normalizes the batch
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += momentum * var * (m / (m - 1))  # the running average gets the unbiased variance
    else:
        mean, var = running_mean.astype(dtype), running_var.astype(dtype)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - _per_channel(mean, x.ndim)) * _per_channel(inv_std, x.ndim)
    g = gamma.astype(dtype, copy=False)
    out = x_hat * _per_channel(g, x.ndim) + _per_channel(beta.astype(dtype, copy=False), x.ndim)
    return out, (x_hat, g, inv_std, bool(train))


def batchnorm_backward(dout, cache):
    """Backward pass of :func:`batchnorm_forward`: returns ``(dx, dgamma, dbeta)``.

    ``dbeta = sum(dout)`` and ``dgamma = sum(dout * x_hat)``, summed over the batch
    (and the spatial positions). In train mode the mean and variance depend on every
    input, and the chain rule through them collapses into one closed form per channel:

        dx = inv_std / M * (M * dx_hat - sum(dx_hat) - x_hat * sum(dx_hat * x_hat)),   dx_hat = dout * gamma

    The two sums remove the parts of ``dx_hat`` that a shift or a rescaling of the
    whole channel would produce, because normalization undoes both. In eval mode the
    statistics are constants and ``dx = dout * gamma * inv_std``.
    """
    x_hat, gamma, inv_std, train = cache
    dout = as_float(dout, "dout", x_hat.dtype)
    if dout.shape != x_hat.shape:
        raise ValueError(f"dout must have the forward output's shape {x_hat.shape}; got {dout.shape}")
    axes, ndim = _axes(x_hat.shape), x_hat.ndim
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * x_hat).sum(axis=axes)
    if not train:
        return dout * _per_channel(gamma * inv_std, ndim), dgamma, dbeta
    m = x_hat.size // x_hat.shape[1]
    # sum(dx_hat) = gamma * dbeta and sum(dx_hat * x_hat) = gamma * dgamma, so no second pass is needed
    dx = _per_channel(gamma * inv_std / m, ndim) * (
        m * dout - _per_channel(dbeta, ndim) - x_hat * _per_channel(dgamma, ndim)
    )
    return dx, dgamma, dbeta


class BatchNorm(Layer):
    """Batch normalization layer (as ``nn.BatchNorm1d`` for ``(N, D)`` and ``nn.BatchNorm2d`` for ``(N, C, H, W)``).

    ``BatchNorm(num_features, momentum=0.1, eps=1e-5, dtype=np.float32)``.

    * ``params``: ``"gamma"`` (starts at 1) and ``"beta"`` (starts at 0), PyTorch's
      ``weight`` and ``bias``; ``grads`` has the same keys.
    * ``running_mean`` (starts at 0) and ``running_var`` (starts at 1) are buffers,
      not parameters: the optimizer never sees them; ``forward(x, train=True)``
      updates them.
    * ``forward(x, train=True)`` normalizes with the batch statistics and keeps the
      cache for :meth:`backward`; ``forward(x, train=False)`` normalizes with the
      running statistics and keeps nothing (the layer protocol of :mod:`helpers.numpy.layers`).
    """

    def __init__(self, num_features, momentum=0.1, eps=1e-5, dtype=np.float32):
        super().__init__()
        self.num_features = positive_int(num_features, "num_features")
        self.momentum = number(momentum, "momentum", low=0, high=1)
        self.eps = number(eps, "eps", low=0, low_open=True)
        self.params["gamma"] = np.ones(self.num_features, dtype=dtype)
        self.params["beta"] = np.zeros(self.num_features, dtype=dtype)
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        self.running_mean = np.zeros(self.num_features, dtype=dtype)
        self.running_var = np.ones(self.num_features, dtype=dtype)

    def _forward(self, x, train):
        # train: batch statistics (and running-statistics update); inference: the running statistics
        shape = np.shape(x)
        if len(shape) in (2, 4) and shape[1] != self.num_features:
            raise ValueError(
                f"BatchNorm({self.num_features}) expects {self.num_features} features or channels on axis 1; "
                f"got x of shape {tuple(shape)}"
            )
        return batchnorm_forward(
            x, self.params["gamma"], self.params["beta"], self.running_mean, self.running_var,
            train=train, momentum=self.momentum, eps=self.eps,
        )

    def _backward(self, dout, cache):
        dx, dgamma, dbeta = batchnorm_backward(dout, cache)
        self._set_grads(gamma=dgamma, beta=dbeta)
        return dx

    def __repr__(self) -> str:
        return f"BatchNorm({self.num_features}, momentum={self.momentum}, eps={self.eps})"
