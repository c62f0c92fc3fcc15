"""Temperature scaling in PyTorch (Guo et al., 2017): one scalar T fitted by L-BFGS on held-out logits.

The model's logits are divided by T before the softmax; T is chosen to minimize the negative log-likelihood
(cross-entropy) on a held-out set. T > 1 softens overconfident probabilities, T < 1 sharpens them; the arg-max,
and so the accuracy, is unchanged. The NumPy twin (Newton's method) is
:func:`helpers.numpy.calibration.fit_temperature`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from helpers.checks import positive_int

__all__ = ["fit_temperature_lbfgs"]


def fit_temperature_lbfgs(logits, labels, max_iter: int = 100) -> float:
    """The temperature minimizing ``F.cross_entropy(logits / T, labels)``, optimized over ``log T`` with L-BFGS.

    ``logits`` is an ``(N, K)`` tensor or array, ``labels`` ``(N,)`` class indices. Optimizing ``log T`` keeps
    T positive. Computed in float64 without touching the global autograd state of the caller's model.
    """
    z = torch.as_tensor(logits).detach().to(torch.float64)
    y = torch.as_tensor(labels).detach().long()
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] < 2 or not torch.isfinite(z).all():
        raise ValueError(f"logits must be a finite (N, K) tensor with N >= 1 and K >= 2; got shape {tuple(z.shape)}")
    if y.shape != (z.shape[0],) or y.min() < 0 or y.max() >= z.shape[1]:
        raise ValueError(f"labels must be {z.shape[0]} class indices in [0, {z.shape[1]}); got shape {tuple(y.shape)}")
    max_iter = positive_int(max_iter, "max_iter")
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=1.0, max_iter=max_iter, tolerance_grad=1e-12,
                                  tolerance_change=1e-14, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return float(log_t.detach().exp())
