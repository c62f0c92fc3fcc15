"""Calibration of a classifier's probabilities in NumPy: reliability bins, ECE, NLL and temperature scaling.

A classifier is *calibrated* when, of the samples it predicts with confidence 0.8, 80 % are right. The
confidence of a sample is its largest softmax probability, its prediction the arg-max class.

* :func:`reliability_bins`: confidences split into equal-width bins ``(i/M, (i+1)/M]``; per bin the mean
  confidence, the accuracy and the count (the reliability diagram plots accuracy against confidence).
* :func:`expected_calibration_error`: ``ECE = sum_b |B_b| / n * |acc(B_b) - conf(B_b)|`` with 15 bins by default,
  the definition of Guo et al. (2017). It equals ``torchmetrics``' ``MulticlassCalibrationError(norm="l1")``
  except for confidences exactly on a bin edge, which torchmetrics puts in the bin above (``[lo, hi)``).
* :func:`negative_log_likelihood`: mean ``-log softmax(z / T)[y]``.
* :func:`fit_temperature`: the T > 0 that minimizes the NLL of ``z / T`` on held-out data. The NLL is convex in
  ``s = 1 / T`` (its second derivative is the mean variance of the logits under the softmax), so Newton's method
  on ``s`` with a step-halving safeguard finds the unique minimum. Dividing all logits by one T > 0 never
  changes the arg-max, so accuracy is unchanged.
* :func:`sharpen_probabilities`: the binary (per-pixel) analogue with a decision threshold, ``p -> sigmoid((logit p
  - logit t) / T)``: every mask ``p > t`` stays the same, while ``T < 1`` pushes the probabilities towards 0 and 1.
  A metric that thresholds the probabilities at several levels (the UNet++ code's IoU averaged over thresholds
  0.5-0.95) changes with it; a metric of the mask does not.
"""

from __future__ import annotations

import numpy as np

from helpers.checks import number, positive_int
from helpers.numpy.losses import log_softmax, softmax

__all__ = ["reliability_bins", "expected_calibration_error", "negative_log_likelihood", "fit_temperature",
           "sharpen_probabilities"]


def _labels(labels, n, k):
    labels = np.asarray(labels)
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer) or (n and (labels.min() < 0
                                                                                   or labels.max() >= k)):
        raise ValueError(f"labels must be {n} integer class indices in [0, {k}); got {labels.dtype} {labels.shape}")
    return labels


def _probs(probs):
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] == 0 or probs.shape[1] < 2:
        raise ValueError(f"probs must have shape (N, K) with N >= 1 and K >= 2; got {probs.shape}")
    if not np.isfinite(probs).all() or probs.min() < 0 or probs.max() > 1 \
            or not np.allclose(probs.sum(axis=1), 1, atol=1e-4):
        raise ValueError("probs must be rows of probabilities that sum to 1 (apply softmax to logits first)")
    return probs


def reliability_bins(probs, labels, n_bins: int = 15):
    """Per equal-width confidence bin: ``(mean_confidence, accuracy, count)``, three ``(n_bins,)`` arrays.

    Bin b holds the samples whose top probability lies in ``(b / n_bins, (b + 1) / n_bins]`` (a confidence of
    exactly 0 goes to the first bin). Empty bins have count 0 and confidence and accuracy ``nan``.
    """
    probs = _probs(probs)
    labels = _labels(labels, *probs.shape)
    n_bins = positive_int(n_bins, "n_bins")
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    b = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    count = np.bincount(b, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(b, weights=conf, minlength=n_bins) / count
        acc = np.bincount(b, weights=correct, minlength=n_bins) / count
    return mean_conf, acc, count


def expected_calibration_error(probs, labels, n_bins: int = 15) -> float:
    """ECE: the bin-count-weighted mean gap ``|accuracy - confidence|`` over ``n_bins`` equal-width bins."""
    mean_conf, acc, count = reliability_bins(probs, labels, n_bins)
    full = count > 0
    return float(np.sum(count[full] * np.abs(acc[full] - mean_conf[full])) / count.sum())


def negative_log_likelihood(logits, labels, temperature: float = 1.0) -> float:
    """Mean ``-log softmax(logits / temperature)[label]`` of ``(N, K)`` logits (the cross-entropy loss)."""
    t = number(temperature, "temperature", low=0.0, low_open=True)
    logp = log_softmax(np.asarray(logits, dtype=np.float64) / t)
    labels = _labels(labels, *logp.shape)
    return float(-np.mean(logp[np.arange(len(labels)), labels]))


def fit_temperature(logits, labels, max_iter: int = 50, tol: float = 1e-10) -> float:
    """The temperature T > 0 minimizing :func:`negative_log_likelihood` of ``logits / T`` (Newton on 1 / T).

    With ``s = 1 / T``: ``dNLL/ds = mean(E_p[z] - z_y)`` and ``d2NLL/ds2 = mean(Var_p[z]) >= 0``, where ``p`` is
    ``softmax(s z)``. Fit it on held-out data (never on the training set, where the network is overconfident,
    nor on the test set it will be judged on).
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] < 2 or not np.isfinite(z).all():
        raise ValueError(f"logits must be a finite (N, K) array with N >= 1 and K >= 2; got shape {z.shape}")
    labels = _labels(labels, *z.shape)
    max_iter = positive_int(max_iter, "max_iter")
    zy = z[np.arange(len(labels)), labels]

    def nll(s):
        return float(np.mean(-log_softmax(s * z)[np.arange(len(labels)), labels]))

    s, value = 1.0, nll(1.0)
    for _ in range(max_iter):
        p = softmax(s * z)
        mean_z = np.sum(p * z, axis=1)
        grad = float(np.mean(mean_z - zy))
        hess = float(np.mean(np.sum(p * z * z, axis=1) - mean_z ** 2))
        if hess <= 0:
            if np.all(z.argmax(1) == labels):
                raise ValueError("every prediction on these held-out samples is right, so the NLL keeps falling as "
                                 "T -> 0 and has no minimum; fit T on more (or harder) held-out data")
            raise ValueError("the NLL is flat in the temperature (all logits of a row equal?); cannot fit T")
        step = grad / hess
        while True:                                       # halve the step until the NLL does not rise
            new_s = s - step
            if new_s > 0 and nll(new_s) <= value + 1e-15:
                break
            step /= 2
            if abs(step) < 1e-15:
                return 1.0 / s
        s, value = new_s, nll(new_s)
        if abs(step) < tol * max(1.0, s):
            break
    return 1.0 / s


def sharpen_probabilities(probs, temperature: float, threshold: float = 0.5) -> np.ndarray:
    """``sigmoid((logit(probs) - logit(threshold)) / temperature)``: probabilities rescaled about ``threshold``.

    ``probs`` is any array of probabilities in [0, 1] (a per-pixel foreground map, say). The result is above 0.5
    exactly where ``probs > threshold``, so the mask at the decision threshold is unchanged; ``temperature < 1``
    makes the map more confident (towards 0 and 1), ``temperature > 1`` less. With ``threshold=0.5`` and
    ``temperature=1`` it returns the probabilities themselves (float64). Probabilities of exactly 0 and 1 stay 0
    and 1.
    """
    t = number(temperature, "temperature", low=0.0, low_open=True)
    c = number(threshold, "threshold", low=0.0, high=1.0, low_open=True, high_open=True)
    p = np.asarray(probs, dtype=np.float64)
    bad = ~np.isfinite(p)
    if bad.any():
        raise ValueError(f"probs must be probabilities in [0, 1]; {int(bad.sum())} of {p.size} values are NaN "
                         "or infinite")
    if p.size and (p.min() < 0 or p.max() > 1):
        raise ValueError(f"probs must be probabilities in [0, 1]; got values from {p.min():.3g} to {p.max():.3g}")
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):   # logit of 0 and 1: -inf and inf
        z = (np.log(p) - np.log1p(-p) - (np.log(c) - np.log1p(-c))) / t
        q = np.where(z >= 0, 1 / (1 + np.exp(-z)), np.exp(z) / (1 + np.exp(z)))
    # Where p is within a rounding error of the threshold (or T is huge) q rounds to 0.5: keep the mask exact.
    return np.where(p > c, np.maximum(q, np.nextafter(0.5, 1.0)), np.minimum(q, 0.5))
