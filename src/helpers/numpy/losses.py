"""Softmax and the softmax cross-entropy loss in NumPy, numerically stable.

The loss of a batch of logits ``z`` (N, K) with integer labels ``y`` is the mean
over the batch of ``-log softmax(z)[y] = logsumexp(z) - z[y]``. Computing
``logsumexp`` as ``m + log(sum(exp(z - m)))`` with ``m = max(z)`` never
overflows: the largest exponent is ``exp(0) = 1``. Its gradient is
``(softmax(z) - onehot(y)) / N``. This is ``torch.nn.functional.cross_entropy``
with its default mean reduction.

The regression losses :func:`mse_loss`, :func:`mae_loss` and :func:`huber_loss` follow
the same pattern, ``(loss, dpred)``, averaged over every element (PyTorch's
``F.mse_loss``, ``F.l1_loss`` and ``F.huber_loss`` with ``reduction="mean"``).
"""

from __future__ import annotations

import numpy as np

from helpers.checks import number
from helpers.numpy.arrays import as_float

__all__ = ["log_softmax", "softmax", "softmax_cross_entropy", "mse_loss", "mae_loss", "huber_loss"]


def _check_logits(logits) -> np.ndarray:
    """``logits`` as a floating ``(N, K)`` array (dtype rule of :mod:`helpers.numpy.arrays`), or ``ValueError``."""
    logits = as_float(logits, "logits")
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (N, K), one row of class scores per sample; got {logits.shape}")
    if logits.shape[0] < 1 or logits.shape[1] < 1:
        raise ValueError(f"logits must not be empty; got shape {logits.shape}")
    return logits


def log_softmax(logits) -> np.ndarray:
    """``log(softmax(logits))`` along the last axis of an ``(N, K)`` array, computed stably."""
    logits = _check_logits(logits)
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(logits) -> np.ndarray:
    """Class probabilities ``exp(z) / sum(exp(z))`` for each row of ``(N, K)`` logits, computed stably."""
    logits = _check_logits(logits)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def softmax_cross_entropy(logits, labels):
    """Mean softmax cross-entropy of a batch and its gradient: returns ``(loss, dlogits)``.

    Parameters
    ----------
    logits : array (N, K) of unnormalized class scores
    labels : integer array (N,) of class indices in ``[0, K)``

    Returns
    -------
    loss : float, ``mean(logsumexp(logits) - logits[label])``, as ``F.cross_entropy``
    dlogits : array (N, K) in the floating dtype of ``logits`` (integers: float64, float16: float32),
        ``(softmax(logits) - onehot(labels)) / N``
    """
    logits = _check_logits(logits)
    labels = np.asarray(labels)
    n, k = logits.shape
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), one class index per row of logits; got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integer class indices; got dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= k:
        raise ValueError(f"labels must lie in [0, {k}) for {k} classes; got values {labels.min()} to {labels.max()}")
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    total = e.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    log_probs_true = shifted[rows, labels] - np.log(total[:, 0])
    loss = -float(np.mean(log_probs_true, dtype=np.float64))
    dlogits = e / total
    dlogits[rows, labels] -= 1
    dlogits /= n
    return loss, dlogits


def _pred_target(pred, target):
    pred, target = as_float(pred, "pred"), as_float(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape; got {pred.shape} and {target.shape}")
    if pred.size == 0:
        raise ValueError("pred and target must not be empty")
    return pred, target.astype(pred.dtype, copy=False)


def mse_loss(pred, target):
    """Mean squared error and its gradient: ``(mean((pred - target)**2), 2 * (pred - target) / n)``.

    ``n`` is the number of elements; equal to ``F.mse_loss``. Large errors dominate (they are squared).
    """
    pred, target = _pred_target(pred, target)
    diff = pred - target
    return float(np.mean(diff * diff, dtype=np.float64)), 2 * diff / diff.size


def mae_loss(pred, target):
    """Mean absolute error and its (sub)gradient: ``(mean(|pred - target|), sign(pred - target) / n)``.

    Equal to ``F.l1_loss``, including its choice of 0 as the gradient where ``pred == target``. Every error
    pulls with the same force, so outliers pull no harder than small errors.
    """
    pred, target = _pred_target(pred, target)
    diff = pred - target
    return float(np.mean(np.abs(diff), dtype=np.float64)), np.sign(diff) / diff.size


def huber_loss(pred, target, delta: float = 1.0):
    """Huber loss and its gradient: squared for ``|error| < delta``, linear beyond (as ``F.huber_loss``).

    Per element ``0.5 * e**2`` if ``|e| < delta`` else ``delta * (|e| - 0.5 * delta)``, averaged;
    the gradient is ``e`` inside and ``delta * sign(e)`` outside, divided by the number of elements.
    """
    pred, target = _pred_target(pred, target)
    delta = number(delta, "delta", low=0, low_open=True)
    diff = pred - target
    small = np.abs(diff) < delta
    per = np.where(small, 0.5 * diff * diff, delta * (np.abs(diff) - 0.5 * delta))
    grad = np.where(small, diff, delta * np.sign(diff)) / diff.size
    return float(np.mean(per, dtype=np.float64)), grad.astype(pred.dtype, copy=False)
