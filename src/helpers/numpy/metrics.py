"""Evaluation metrics from scratch in NumPy: the confusion matrix, and IoU and Dice for masks.

``iou``/``dice`` score each image of a batch; ``pixel_iou``/``pixel_dice`` pool
all pixels of all images into one score (the "pixel IoU" usually reported for segmentation).
"""

from __future__ import annotations

import numpy as np

from helpers.checks import positive_int

__all__ = ["confusion_matrix", "iou", "dice", "pixel_iou", "pixel_dice"]


def confusion_matrix(preds, labels, n_classes: int) -> np.ndarray:
    """Counts ``cm[true, predicted]`` as an int64 array ``(n_classes, n_classes)``.

    Row ``i`` holds the samples whose label is ``i``, spread over the predicted
    classes: the diagonal counts correct predictions, ``cm.sum(axis=1)`` the samples
    per class, and ``np.diag(cm) / cm.sum(axis=1)`` each class's recall.
    """
    preds, labels = np.asarray(preds), np.asarray(labels)
    n_classes = positive_int(n_classes, "n_classes")
    if preds.ndim != 1 or preds.shape != labels.shape:
        raise ValueError(
            f"preds and labels must be 1-D arrays of the same length; got shapes {preds.shape} and {labels.shape}"
        )
    for name, a in (("preds", preds), ("labels", labels)):
        if a.size and (not np.issubdtype(a.dtype, np.integer) or a.min() < 0 or a.max() >= n_classes):
            raise ValueError(f"{name} must be integer class indices in [0, {n_classes}); got {a.dtype} values "
                             f"from {a.min()} to {a.max()}")
    flat = labels.astype(np.int64) * n_classes + preds.astype(np.int64)
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


# ----------------------------------------------------------------------------- metrics
def _masks(pred, truth):
    pred, truth = np.asarray(pred), np.asarray(truth)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction and truth must have the same shape; got {pred.shape} and {truth.shape}")
    for name, m in (("prediction", pred), ("truth", truth)):
        if m.dtype != bool and not np.isin(m, (0, 1)).all():
            raise ValueError(f"{name} must be a binary mask (bool or 0/1); threshold probabilities first")
    return pred.astype(bool), truth.astype(bool)


def _ratio(num, den):
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.where(den > 0, num / np.maximum(den, 1), 1.0)  # empty truth and empty prediction -> 1.0


def iou(pred, truth):
    """Intersection over union per image: masks (N, H, W) -> (N,) array ((H, W) -> float).

    Both masks empty -> 1.0 (the empty-mask convention); only one empty -> 0.0.
    """
    pred, truth = _masks(pred, truth)
    axes = tuple(range(pred.ndim - 2, pred.ndim)) if pred.ndim >= 2 else None
    if pred.ndim < 2:
        raise ValueError(f"masks must be (H, W) or (N, H, W); got shape {pred.shape}")
    inter = (pred & truth).sum(axis=axes)
    union = (pred | truth).sum(axis=axes)
    out = _ratio(inter, union)
    return float(out) if out.ndim == 0 else out


def dice(pred, truth):
    """Dice coefficient 2|A∩B| / (|A| + |B|) per image; same shapes and empty-mask convention as :func:`iou`."""
    pred, truth = _masks(pred, truth)
    if pred.ndim < 2:
        raise ValueError(f"masks must be (H, W) or (N, H, W); got shape {pred.shape}")
    axes = (-2, -1)
    out = _ratio(2 * (pred & truth).sum(axis=axes), pred.sum(axis=axes) + truth.sum(axis=axes))
    return float(out) if out.ndim == 0 else out


def pixel_iou(pred, truth) -> float:
    """IoU of the positive class over *all* pixels of the set (one big intersection / one big union)."""
    pred, truth = _masks(pred, truth)
    return float(_ratio((pred & truth).sum(), (pred | truth).sum()))


def pixel_dice(pred, truth) -> float:
    """Dice of the positive class over all pixels of the set."""
    pred, truth = _masks(pred, truth)
    return float(_ratio(2 * (pred & truth).sum(), pred.sum() + truth.sum()))
