"""Knowledge distillation in NumPy: the temperature-softened loss of Hinton et al. (2015) and its gradient.

A student with logits ``s`` learns from a teacher with logits ``t`` and the labels ``y``:

    loss = alpha * T^2 * mean_n KL(softmax(t_n / T) || softmax(s_n / T)) + (1 - alpha) * mean_n CE(s_n, y_n)

The gradient of the soft term with respect to ``s`` is ``T * (softmax(s/T) - softmax(t/T)) / N``; the ``T^2``
factor cancels the ``1/T^2`` that softening puts on it, so ``alpha`` keeps its meaning at every temperature.
"""

from __future__ import annotations

import numpy as np

from helpers.checks import number

__all__ = ["softmax", "kd_loss_forward", "kd_loss_backward"]


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise ``softmax(logits / temperature)`` of an ``(N, K)`` array, computed stably."""
    temperature = number(temperature, "temperature", low=1e-6)
    z = np.asarray(logits, dtype=np.float64) / temperature
    if z.ndim != 2:
        raise ValueError(f"logits must be (N, K), got shape {z.shape}")
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def kd_loss_forward(student_logits, teacher_logits, labels, temperature: float = 4.0, alpha: float = 0.9):
    """Distillation loss (see the module docstring) -> ``(loss, cache)``; computed in float64."""
    temperature = number(temperature, "temperature", low=1e-6)
    alpha = number(alpha, "alpha", low=0.0, high=1.0)
    s = np.asarray(student_logits, dtype=np.float64)
    t = np.asarray(teacher_logits, dtype=np.float64)
    y = np.asarray(labels)
    if s.ndim != 2 or s.shape != t.shape:
        raise ValueError(f"student and teacher logits must both be (N, K), got {s.shape} and {t.shape}")
    n, k = s.shape
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer) or (n and (y.min() < 0 or y.max() >= k)):
        raise ValueError(f"labels must be {n} integers in [0, {k}), got shape {y.shape}, dtype {y.dtype}")
    p_soft, q_soft, p = softmax(s, temperature), softmax(t, temperature), softmax(s)
    log_p_soft = np.log(np.clip(p_soft, 1e-300, None))
    log_q_soft = np.log(np.clip(q_soft, 1e-300, None))
    kl = np.sum(np.where(q_soft > 0, q_soft * (log_q_soft - log_p_soft), 0.0)) / n
    ce = -np.mean(np.log(np.clip(p[np.arange(n), y], 1e-300, None)))
    loss = alpha * temperature ** 2 * kl + (1 - alpha) * ce
    return float(loss), (p_soft, q_soft, p, y, temperature, alpha)


def kd_loss_backward(dout: float, cache) -> np.ndarray:
    """Gradient of the distillation loss with respect to the student logits, times the upstream ``dout``."""
    p_soft, q_soft, p, y, temperature, alpha = cache
    n = len(y)
    onehot = np.zeros_like(p)
    onehot[np.arange(n), y] = 1.0
    grad = alpha * temperature * (p_soft - q_soft) / n + (1 - alpha) * (p - onehot) / n
    return float(dout) * grad
