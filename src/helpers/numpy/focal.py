"""The focal loss (Lin et al., 2017) in NumPy, forward and gradient, for sigmoid and for softmax outputs.

The focal loss multiplies the cross-entropy of each sample by ``(1 - p_t) ** gamma``, where ``p_t`` is the
probability the model gives the true class: well-classified samples (``p_t`` near 1) are down-weighted, so
the gradient is dominated by the hard ones. ``gamma = 0`` is the plain cross-entropy.

* :func:`sigmoid_focal_loss`: independent binary (one-vs-all) outputs, with the optional ``alpha`` weight of
  the positive class; equal to ``torchvision.ops.sigmoid_focal_loss``.
* :func:`softmax_focal_loss`: one softmax over K classes, with optional per-class weights normalized as in
  ``torch.nn.functional.cross_entropy(weight=...)``, so that ``gamma = 0`` gives exactly that function.

Both return ``(loss, dlogits)`` like :func:`helpers.numpy.losses.softmax_cross_entropy`.
"""

from __future__ import annotations

import numpy as np

from helpers.checks import number
from helpers.numpy.arrays import as_float

__all__ = ["sigmoid_focal_loss", "softmax_focal_loss"]

_REDUCTIONS = ("none", "mean", "sum")


def _pow_minus_one(base, gamma):
    """``gamma * base ** (gamma - 1)``; at ``base = 0`` (where it multiplies a factor that is 0 there) it is set
    to its value for ``gamma >= 1`` (0, or 1 when ``gamma = 1``) instead of ``inf`` for ``gamma < 1``."""
    if gamma == 0:
        return np.zeros_like(base)
    safe = np.where(base > 0, base, 1.0)
    return np.where(base > 0, gamma * safe ** (gamma - 1), float(gamma == 1))


def sigmoid_focal_loss(logits, targets, alpha: float = 0.25, gamma: float = 2.0, reduction: str = "none"):
    """Sigmoid focal loss of ``logits`` against ``targets`` in [0, 1] (same shape): ``(loss, dlogits)``.

    ``p = sigmoid(x)``, ``ce = -(t log p + (1 - t) log(1 - p))``, ``p_t = p t + (1 - p)(1 - t)``,
    ``loss = alpha_t * (1 - p_t) ** gamma * ce`` with ``alpha_t = alpha t + (1 - alpha)(1 - t)``; ``alpha < 0``
    switches the weighting off. ``reduction`` is ``"none"`` (elementwise), ``"mean"`` or ``"sum"``, as in
    ``torchvision.ops.sigmoid_focal_loss``; ``dlogits`` is the gradient of the reduced loss (of its sum for
    ``"none"``).
    """
    x = as_float(logits, "logits")
    t = as_float(targets, "targets").astype(x.dtype)
    if x.shape != t.shape or x.size == 0:
        raise ValueError(f"logits and targets must be non-empty arrays of the same shape; got {x.shape} and {t.shape}")
    if t.min() < 0 or t.max() > 1:
        raise ValueError("targets must lie in [0, 1] (1 = positive)")
    gamma = number(gamma, "gamma", low=0.0)
    alpha = number(alpha, "alpha", high=1.0)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}; got {reduction!r}")
    p = 1 / (1 + np.exp(-x))
    ce = np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))      # stable binary cross-entropy with logits
    one_minus_pt = 1 - (p * t + (1 - p) * (1 - t))
    modulator = one_minus_pt ** gamma
    # d(1 - p_t)/dx = -p (1 - p) (2t - 1);  d ce/dx = p - t
    dmod = _pow_minus_one(one_minus_pt, gamma) * (-p * (1 - p) * (2 * t - 1))
    loss, grad = modulator * ce, (p - t) * modulator + ce * dmod
    if alpha >= 0:
        alpha_t = alpha * t + (1 - alpha) * (1 - t)
        loss, grad = alpha_t * loss, alpha_t * grad
    if reduction == "mean":
        return float(loss.mean()), (grad / loss.size).astype(x.dtype)
    if reduction == "sum":
        return float(loss.sum()), grad.astype(x.dtype)
    return loss.astype(x.dtype), grad.astype(x.dtype)


def softmax_focal_loss(logits, labels, gamma: float = 2.0, weight=None):
    """Softmax focal loss of ``(N, K)`` logits and integer labels, mean over the batch: ``(loss, dlogits)``.

    ``loss_i = -w_{y_i} (1 - p_i) ** gamma * log p_i`` with ``p_i = softmax(z_i)[y_i]``; the batch loss is
    ``sum_i loss_i / sum_i w_{y_i}`` (plain mean without ``weight``), the normalization of
    ``F.cross_entropy(weight=...)``. Gradient of one sample with respect to its logits:
    ``w * (gamma (1 - p)^(gamma - 1) p log p - (1 - p)^gamma) * (onehot(y) - softmax(z))``.
    """
    z = as_float(logits, "logits")
    if z.ndim != 2 or z.shape[0] < 1 or z.shape[1] < 1:
        raise ValueError(f"logits must have shape (N, K) with N, K >= 1; got {z.shape}")
    n, k = z.shape
    labels = np.asarray(labels)
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= k:
        raise ValueError(f"labels must be {n} integer class indices in [0, {k}); got {labels.dtype} {labels.shape}")
    gamma = number(gamma, "gamma", low=0.0)
    if weight is None:
        w = np.ones(k)
    else:
        w = np.asarray(weight, dtype=np.float64)
        if w.shape != (k,) or not np.isfinite(w).all() or w.min() < 0 or w.sum() == 0:
            raise ValueError(f"weight must be {k} finite non-negative class weights, not all 0; got {weight!r}")
    shifted = z - z.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    probs = e / e.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    logp = shifted[rows, labels] - np.log(e.sum(axis=1))
    p = np.exp(logp)
    one_minus = -np.expm1(logp)
    ws = w[labels]
    total = ws.sum()
    if total == 0:
        raise ValueError("the classes present in labels all have weight 0")
    loss = float(np.sum(ws * -(one_minus ** gamma) * logp) / total)
    coef = ws * (_pow_minus_one(one_minus, gamma) * p * logp - one_minus ** gamma) / total
    onehot_minus_p = -probs
    onehot_minus_p[rows, labels] += 1
    return loss, (coef[:, None] * onehot_minus_p).astype(z.dtype)
