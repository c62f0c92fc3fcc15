"""Softmax and the softmax cross-entropy loss in NumPy, numerically stable.

The loss of a batch of logits ``z`` (N, K) with integer labels ``y`` is the mean
over the batch of ``-log softmax(z)[y] = logsumexp(z) - z[y]``. Computing
``logsumexp`` as ``m + log(sum(exp(z - m)))`` with ``m = max(z)`` never
overflows: the largest exponent is ``exp(0) = 1``. Its gradient is
``(softmax(z) - onehot(y)) / N``. This is ``torch.nn.functional.cross_entropy``
with its default mean reduction.
"""

from __future__ import annotations

import numpy as np

from helpers.numpy.arrays import as_float

__all__ = ["log_softmax", "softmax", "softmax_cross_entropy"]


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
