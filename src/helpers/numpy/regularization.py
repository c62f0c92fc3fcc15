"""Weight penalties (L1 and L2) with their gradients, and early stopping with patience.

``weight_penalty(params, l1, l2)`` returns the penalty ``l1 * sum|w| + l2 / 2 * sum w**2``
over a list of arrays and its gradient ``l1 * sign(w) + l2 * w``, so ``l2`` plays the role of
``weight_decay`` in ``torch.optim.SGD``. :class:`EarlyStopping` watches one validation number
per epoch and says when it has not improved for ``patience`` epochs; it works with any training
loop (NumPy or PyTorch) because it only sees numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from helpers.checks import integer, number

__all__ = ["weight_penalty", "soft_threshold", "EarlyStopping", "early_stopping_epoch"]


def weight_penalty(params, l1: float = 0.0, l2: float = 0.0):
    """``(value, grads)`` of the penalty ``l1 * sum|w| + l2 / 2 * sum w**2`` over the arrays ``params``.

    ``grads`` is a list of arrays, one per parameter: ``l1 * sign(w) + l2 * w`` (the L1 subgradient
    is 0 at ``w == 0``, as PyTorch's ``abs``). Add them to the data gradients before the update.
    """
    l1, l2 = number(l1, "l1", low=0), number(l2, "l2", low=0)
    arrays = []
    for k, p in enumerate(params):
        if not isinstance(p, np.ndarray) or not np.issubdtype(p.dtype, np.floating):
            raise ValueError(f"params[{k}] must be a floating-point NumPy array; got {type(p).__name__}")
        arrays.append(p)
    if not arrays:
        raise ValueError("params is empty: there is nothing to penalize")
    value = sum(l1 * float(np.abs(p).sum(dtype=np.float64)) + 0.5 * l2 * float((p.astype(np.float64) ** 2).sum())
                for p in arrays)
    grads = [(p.dtype.type(l1) * np.sign(p) + p.dtype.type(l2) * p).astype(p.dtype, copy=False) for p in arrays]
    return value, grads


def soft_threshold(w, threshold: float) -> np.ndarray:
    """The proximal step of the L1 penalty: ``sign(w) * max(|w| - threshold, 0)``.

    After a gradient step on the data loss, ``w = soft_threshold(w - lr * grad, lr * l1)`` (proximal
    gradient descent, ISTA) sets every weight whose size is below ``lr * l1`` to exactly 0, which the
    subgradient ``l1 * sign(w)`` never does: it makes small weights oscillate around 0 instead.
    """
    threshold = number(threshold, "threshold", low=0)
    w = np.asarray(w)
    if not np.issubdtype(w.dtype, np.floating):
        raise ValueError(f"w must be a floating-point array; got dtype {w.dtype}")
    return (np.sign(w) * np.maximum(np.abs(w) - w.dtype.type(threshold), 0)).astype(w.dtype, copy=False)


class EarlyStopping:
    """Stop when a validation number has not improved for ``patience`` epochs.

    ``EarlyStopping(patience=5, min_delta=0.0, mode="min")``: call :meth:`step` with the epoch's
    value (a loss with ``mode="min"``, an accuracy with ``mode="max"``); it returns ``True`` when
    training should stop. An improvement must beat the best value by more than ``min_delta``.
    ``best``, ``best_epoch`` (1-based) and ``epochs`` tell which weights to keep: save them whenever
    ``best_epoch == epochs``.
    """

    def __init__(self, patience: int = 5, min_delta: float = 0.0, mode: str = "min"):
        self.patience = integer(patience, "patience", minimum=1)
        self.min_delta = number(min_delta, "min_delta", low=0)
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' (a loss) or 'max' (an accuracy); got {mode!r}")
        self.mode = mode
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = 0
        self.epochs = 0
        self.stopped = False

    def step(self, value) -> bool:
        """Record one epoch's value; ``True`` once ``patience`` epochs in a row brought no improvement."""
        value = number(value, "value")
        self.epochs += 1
        better = value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta
        if better:
            self.best, self.best_epoch = value, self.epochs
        self.stopped = self.epochs - self.best_epoch >= self.patience
        return self.stopped


def early_stopping_epoch(curve: Sequence[float], patience: int, min_delta: float = 0.0,
                         mode: str = "min") -> tuple[int, int]:
    """Replay a recorded validation curve: ``(epoch stopped at, best epoch)``, both 1-based.

    If the rule never fires, the stop epoch is the curve's length (training ran to the end).
    """
    rule = EarlyStopping(patience, min_delta, mode)
    values = list(curve)
    if not values:
        raise ValueError("curve is empty: give one validation value per epoch")
    for value in values:
        if rule.step(value):
            break
    return rule.epochs, rule.best_epoch
