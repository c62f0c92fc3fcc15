"""Capsules and routing-by-agreement in NumPy (forward pass): squash, prediction vectors, dynamic routing.

A capsule outputs a vector: its length (kept in ``[0, 1)`` by :func:`squash`) says how likely an entity is
present, its direction encodes the entity's pose. A lower capsule ``i`` predicts the output of every upper
capsule ``j`` with its own matrix, ``u_hat[j|i] = W[i, j] @ u[i]`` (:func:`capsule_predictions`), and
:func:`dynamic_routing` decides how much of ``u[i]`` goes to each ``j``: coupling coefficients
``c[i, :] = softmax(b[i, :])`` start uniform, and the logit ``b[i, j]`` grows by the agreement
``u_hat[j|i] . v[j]`` between the prediction and the upper capsule's output, for a few iterations
(Sabour, Frosst & Hinton, 2017).
"""

from __future__ import annotations

import numpy as np

from helpers.checks import integer, number

__all__ = ["squash", "capsule_predictions", "dynamic_routing", "margin_loss"]


def _array(x, name: str, ndim: int | None = None, min_ndim: int = 1) -> np.ndarray:
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise ValueError(f"{name} must be a real numeric array; got dtype {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions; got shape {x.shape}")
    if x.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s); got shape {x.shape}")
    x = x.astype(np.float32 if x.dtype == np.float32 else np.float64, copy=False)
    if not np.isfinite(x).all():
        raise ValueError(f"{name} must be finite")
    return x


def squash(s, axis: int = -1, eps: float = 1e-8) -> np.ndarray:
    """``|s|^2 / (1 + |s|^2) * s / |s|`` along ``axis``: same direction as ``s``, length in ``[0, 1)``.

    Short vectors shrink to almost zero (length ~ ``|s|^2``), long ones to just below 1. ``eps`` inside the
    square root keeps the zero vector at zero instead of dividing by zero.
    """
    s = _array(s, "s")
    integer(axis, "axis", minimum=-s.ndim, maximum=s.ndim - 1)
    number(eps, "eps", low=0.0, low_open=True)
    sq = np.sum(s * s, axis=axis, keepdims=True)
    return (sq / (1 + sq) * s / np.sqrt(sq + eps)).astype(s.dtype, copy=False)


def capsule_predictions(u, W) -> np.ndarray:
    """Prediction vectors ``u_hat[n, i, j] = W[i, j] @ u[n, i]``: shape ``(N, n_in, n_out, d_out)``.

    ``u``: lower capsules ``(N, n_in, d_in)``; ``W``: one matrix per (lower, upper) pair,
    ``(n_in, n_out, d_out, d_in)``.
    """
    u, W = _array(u, "u", ndim=3), _array(W, "W", ndim=4)
    if W.shape[0] != u.shape[1] or W.shape[3] != u.shape[2]:
        raise ValueError(f"W must have shape (n_in={u.shape[1]}, n_out, d_out, d_in={u.shape[2]}) for u of shape "
                         f"{u.shape}; got {W.shape}")
    return np.einsum("ijkl,nil->nijk", W, u, optimize=True)


def _softmax(b, axis):
    e = np.exp(b - b.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def dynamic_routing(u_hat, iterations: int = 3, eps: float = 1e-8):
    """Routing by agreement over ``iterations`` rounds; returns ``(v, c)``.

    ``u_hat``: prediction vectors ``(N, n_in, n_out, d_out)``. Each round: ``c = softmax(b)`` over the upper
    capsules ``j`` (``b`` starts at 0, so the first round weighs every ``j`` equally),
    ``s[j] = sum_i c[i, j] u_hat[j|i]``,
    ``v = squash(s)``, then ``b[i, j] += u_hat[j|i] . v[j]`` (the last round's update would not be used and is
    skipped). ``v``: upper capsules ``(N, n_out, d_out)``; ``c``: the last round's coupling coefficients
    ``(N, n_in, n_out)``, each row summing to 1.
    """
    u_hat = _array(u_hat, "u_hat", ndim=4)
    iterations = integer(iterations, "iterations", minimum=1)
    b = np.zeros(u_hat.shape[:3], dtype=u_hat.dtype)
    for r in range(iterations):
        c = _softmax(b, axis=2)
        v = squash(np.einsum("nij,nijk->njk", c, u_hat, optimize=True), eps=eps)
        if r < iterations - 1:
            b = b + np.einsum("nijk,njk->nij", u_hat, v, optimize=True)
    return v, c


def margin_loss(lengths, y, m_plus: float = 0.9, m_minus: float = 0.1, lam: float = 0.5) -> float:
    """Capsule-network margin loss, averaged over the batch.

    ``lengths``: ``(N, K)`` lengths of the class capsules; ``y``: ``(N,)`` int labels in ``[0, K)``. Per image,
    ``sum_k T_k max(0, m+ - |v_k|)^2 + lam (1 - T_k) max(0, |v_k| - m-)^2`` with ``T_k = 1`` for the true class.
    """
    lengths = _array(lengths, "lengths", ndim=2)
    y = np.asarray(y)
    if y.shape != (lengths.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must be {lengths.shape[0]} integer labels; got {y.dtype} array of shape {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= lengths.shape[1]):
        raise ValueError(f"labels must be in [0, {lengths.shape[1]}); got range [{y.min()}, {y.max()}]")
    t = np.eye(lengths.shape[1], dtype=lengths.dtype)[y]
    per = t * np.maximum(0, m_plus - lengths) ** 2 + lam * (1 - t) * np.maximum(0, lengths - m_minus) ** 2
    return float(per.sum(axis=1).mean()) if len(y) else 0.0
