"""Classification metrics from scratch in NumPy: precision, recall, F1, balanced and top-k accuracy, ROC and PR.

Every metric is written from the counts of :func:`helpers.numpy.metrics.confusion_matrix` (``cm[true, predicted]``)
or from the scores sorted once, and follows the definitions of ``sklearn.metrics`` (a class with no predicted
sample has precision 0, as ``zero_division=0``; a curve is traced through every distinct score).

``average`` chooses how per-class numbers are combined: ``None`` (one number per class), ``"macro"`` (their
plain mean: every class counts the same, however rare), ``"weighted"`` (mean weighted by each class's number of
true samples) or ``"micro"`` (pool the counts of all classes first; for single-label problems micro precision,
recall and F1 all equal the accuracy).
"""

from __future__ import annotations

import numpy as np

from helpers.checks import positive_int
from helpers.numpy.metrics import confusion_matrix

__all__ = ["precision_recall_f1", "balanced_accuracy", "top_k_accuracy", "roc_curve", "roc_auc",
           "precision_recall_curve", "average_precision", "imbalance_scores", "logit_adjusted_predictions"]

_AVERAGES = (None, "macro", "micro", "weighted")


def _safe_div(num, den):
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def precision_recall_f1(preds, labels, n_classes: int, average: str | None = None):
    """Precision, recall and F1 of predicted class indices: returns ``(precision, recall, f1)``.

    Precision of class c = TP / (TP + FP) (of the samples predicted c, the fraction that are c), recall =
    TP / (TP + FN) (of the samples that are c, the fraction predicted c), F1 = their harmonic mean
    2PR / (P + R). Zero denominators give 0 (sklearn's ``zero_division=0``). With ``average=None`` each is a
    ``(n_classes,)`` array, else a float (see the module docstring for ``"macro"``, ``"micro"``, ``"weighted"``).
    """
    if average not in _AVERAGES:
        raise ValueError(f"average must be one of {_AVERAGES}; got {average!r}")
    cm = confusion_matrix(preds, labels, n_classes)
    tp = np.diag(cm).astype(np.float64)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    if average == "micro":
        p = float(_safe_div(tp.sum(), predicted.sum()))
        r = float(_safe_div(tp.sum(), support.sum()))
        return p, r, float(_safe_div(2 * p * r, p + r))
    precision, recall = _safe_div(tp, predicted), _safe_div(tp, support)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    if average is None:
        return precision, recall, f1
    weights = np.ones(n_classes) if average == "macro" else support.astype(np.float64)
    if weights.sum() == 0:
        return 0.0, 0.0, 0.0
    return tuple(float(np.sum(weights * a) / weights.sum()) for a in (precision, recall, f1))


def balanced_accuracy(preds, labels, n_classes: int) -> float:
    """Mean recall over the classes that occur in ``labels`` (``sklearn.metrics.balanced_accuracy_score``).

    A classifier that always predicts one class scores 1 / (number of classes present), whatever the imbalance.
    """
    cm = confusion_matrix(preds, labels, n_classes)
    support = cm.sum(axis=1)
    present = support > 0
    if not present.any():
        raise ValueError("labels must not be empty")
    return float(np.mean(np.diag(cm)[present] / support[present]))


def top_k_accuracy(scores, labels, k: int = 5) -> float:
    """Fraction of samples whose true class is among the ``k`` highest of its row of ``scores`` ``(N, K)``.

    Ties are broken by the lower class index, as a stable sort of ``-scores``; k = 1 is the usual accuracy.
    """
    scores, labels = np.asarray(scores), np.asarray(labels)
    if scores.ndim != 2 or scores.shape[0] == 0:
        raise ValueError(f"scores must have shape (N, K) with N >= 1; got {scores.shape}")
    n, n_classes = scores.shape
    k = positive_int(k, "k")
    if k > n_classes:
        raise ValueError(f"k must be at most the number of classes {n_classes}; got {k}")
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 \
            or labels.max() >= n_classes:
        raise ValueError(f"labels must be {n} integer class indices in [0, {n_classes}); got {labels.dtype} "
                         f"{labels.shape}")
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean((top == labels[:, None]).any(axis=1)))


def _binary_scores(labels, scores):
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    if labels.ndim != 1 or labels.shape != scores.shape or labels.size == 0:
        raise ValueError(f"labels and scores must be non-empty 1-D arrays of the same length; got shapes "
                         f"{labels.shape} and {scores.shape}")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be binary (0/1 or bool); for a multi-class problem pass labels == c "
                         "and the scores of class c (one-vs-rest)")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite")
    labels = labels.astype(bool)
    if labels.all() or not labels.any():
        raise ValueError("labels must contain both classes: ROC and PR curves need positives and negatives")
    order = np.argsort(-scores, kind="stable")
    scores, labels = scores[order], labels[order]
    last = np.r_[np.flatnonzero(np.diff(scores)), labels.size - 1]   # last index of each distinct score
    tps = np.cumsum(labels)[last].astype(np.float64)
    fps = (last + 1) - tps
    return tps, fps, scores[last]


def roc_curve(labels, scores):
    """ROC curve of a binary problem: ``(fpr, tpr, thresholds)`` at every distinct score, highest first.

    Predicting positive when ``score >= threshold`` gives the true-positive rate TP / P (recall) and the
    false-positive rate FP / N. The curve starts at (0, 0) with threshold ``inf`` (nothing predicted
    positive), as ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``.
    """
    tps, fps, thresholds = _binary_scores(labels, scores)
    tps, fps = np.r_[0.0, tps], np.r_[0.0, fps]
    return fps / fps[-1], tps / tps[-1], np.r_[np.inf, thresholds]


def roc_auc(labels, scores) -> float:
    """Area under the ROC curve (trapezoids): the probability that a random positive outscores a random negative.

    Ties count one half. Equal to ``sklearn.metrics.roc_auc_score`` for binary labels.
    """
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def precision_recall_curve(labels, scores):
    """Precision-recall curve ``(precision, recall, thresholds)`` exactly as ``sklearn.metrics.precision_recall_curve``.

    Thresholds are the distinct scores in increasing order (the first one predicts everything positive:
    recall 1); ``precision`` and ``recall`` have one more entry, the end point (precision 1, recall 0).
    """
    tps, fps, thresholds = _binary_scores(labels, scores)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], thresholds[::-1]


def average_precision(labels, scores) -> float:
    """Average precision AP = sum over thresholds of (R_n - R_{n-1}) P_n: the PR curve as a step function.

    This is ``sklearn.metrics.average_precision_score`` (no interpolation, unlike the trapezoidal area under the
    PR curve, which is optimistic). A random classifier scores about the fraction of positives.
    """
    precision, recall, _ = precision_recall_curve(labels, scores)
    return float(-np.sum(np.diff(recall) * precision[:-1]))


def imbalance_scores(preds, labels, prior, minority, n_classes: int) -> dict:
    """The imbalance lesson's named metrics of one set of predictions (floats, in this order).

    ``accuracy (balanced test set)``: plain accuracy on ``labels``; ``accuracy on the training distribution``:
    the per-class recalls weighted by ``prior`` (the accuracy the classifier would have on data drawn with the
    training frequencies); ``minority recall (mean of ...)``: the mean recall of the ``minority`` classes;
    ``macro-F1``; ``balanced accuracy``.
    """
    n_classes = positive_int(n_classes, "n_classes")
    prior, minority = np.asarray(prior, dtype=np.float64), list(minority)
    if prior.shape != (n_classes,) or not np.isclose(prior.sum(), 1) or (prior < 0).any():
        raise ValueError(f"prior must be {n_classes} non-negative class frequencies summing to 1; got {prior}")
    if not minority or not all(0 <= c < n_classes for c in minority):
        raise ValueError(f"minority must list classes in 0..{n_classes - 1}; got {minority}")
    preds, labels = np.asarray(preds), np.asarray(labels)
    _, rec, _ = precision_recall_f1(preds, labels, n_classes)
    names = ", ".join(str(c) for c in minority)
    return {"accuracy (balanced test set)": float(np.mean(preds == labels)),
            "accuracy on the training distribution": float(np.sum(prior * rec)),
            f"minority recall (mean of {names})": float(rec[minority].mean()),
            "macro-F1": float(precision_recall_f1(preds, labels, n_classes, average="macro")[2]),
            "balanced accuracy": balanced_accuracy(preds, labels, n_classes)}


def logit_adjusted_predictions(logits, prior, tau: float) -> np.ndarray:
    """Threshold moving by logit adjustment (Menon et al., 2021): ``argmax(logits - tau * log(prior))``.

    ``tau = 1`` turns a posterior under the training prior into one under a uniform prior.
    """
    logits, prior = np.asarray(logits), np.asarray(prior, dtype=np.float64)
    if logits.ndim != 2 or prior.shape != (logits.shape[1],) or (prior <= 0).any():
        raise ValueError(f"logits must be (N, C) and prior (C,) positive; got {logits.shape} and {prior.shape}")
    return (logits - tau * np.log(prior)).argmax(1)
