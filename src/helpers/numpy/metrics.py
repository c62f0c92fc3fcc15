"""Evaluation metrics from scratch in NumPy: the confusion matrix, and IoU and Dice for masks.

``iou``/``dice`` score each image of a batch; ``pixel_iou``/``pixel_dice`` pool
all pixels of all images into one score (the "pixel IoU" usually reported for segmentation).
``two_class_mean_iou``/``threshold_averaged_mean_iou`` are the definitions the UNet++ paper's code
uses, and ``instance_score`` the 2018 Data Science Bowl's per-image object score.
"""

from __future__ import annotations

import numpy as np

from helpers.checks import positive_int

__all__ = ["confusion_matrix", "iou", "dice", "pixel_iou", "pixel_dice", "two_class_mean_iou",
           "threshold_averaged_mean_iou", "object_iou_matrix", "instance_score", "DSB_THRESHOLDS"]


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


# ----------------------------------------------------- the definitions papers and competitions use
DSB_THRESHOLDS = np.round(np.arange(0.5, 1.0, 0.05), 2)  # 0.50, 0.55, ..., 0.95


def two_class_mean_iou(pred, truth) -> float:
    """Mean of the background IoU and the foreground IoU, pooled over all pixels of the set.

    This is TensorFlow's ``tf.metrics.mean_iou(y_true, y_pred, num_classes=2)``, the metric the
    UNet++ reference code reports. Background is usually the easy class, so this number is
    well above the foreground :func:`pixel_iou` of the same masks.
    """
    pred, truth = _masks(pred, truth)
    fg = _ratio((pred & truth).sum(), (pred | truth).sum())
    bg = _ratio((~pred & ~truth).sum(), (~pred | ~truth).sum())
    return float((fg + bg) / 2)


def threshold_averaged_mean_iou(probs, truth, thresholds=DSB_THRESHOLDS) -> float:
    """The UNet++ reference code's ``mean_iou``: :func:`two_class_mean_iou` of ``probs > t``, averaged over t.

    ``probs`` are probabilities in [0, 1] with the shape of the binary ``truth``; the default
    thresholds are 0.5, 0.55, ..., 0.95.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.size and (np.isnan(probs).any() or probs.min() < 0 or probs.max() > 1):
        raise ValueError("probs must be probabilities in [0, 1] (apply a sigmoid to logits first)")
    thresholds = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    if thresholds.ndim != 1 or thresholds.size == 0:
        raise ValueError(f"thresholds must be a non-empty 1-D sequence; got shape {thresholds.shape}")
    return float(np.mean([two_class_mean_iou(probs > t, truth) for t in thresholds]))


def _label_image(a, name):
    a = np.asarray(a)
    if a.ndim != 2 or not np.issubdtype(a.dtype, np.integer) or (a.size and a.min() < 0):
        raise ValueError(f"{name} must be a 2-D integer label image (0 = background, 1..n = objects); "
                         f"got dtype {a.dtype}, shape {a.shape}. Label a binary mask with scipy.ndimage.label first")
    return a.astype(np.int64)


def object_iou_matrix(pred_labels, truth_labels) -> np.ndarray:
    """IoU of every (true object, predicted object) pair of two label images: shape (n_true, n_pred).

    Objects are the labels 1..max of each image (0 is background; unused labels give empty rows).
    """
    p, t = _label_image(pred_labels, "pred_labels"), _label_image(truth_labels, "truth_labels")
    if p.shape != t.shape:
        raise ValueError(f"label images must have the same shape; got {p.shape} and {t.shape}")
    n_p, n_t = int(p.max()), int(t.max())
    inter = np.bincount((t * (n_p + 1) + p).ravel(), minlength=(n_t + 1) * (n_p + 1)).reshape(n_t + 1, n_p + 1)
    area_t, area_p = inter.sum(axis=1), inter.sum(axis=0)
    inter = inter[1:, 1:]
    union = area_t[1:, None] + area_p[None, 1:] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def instance_score(pred_labels, truth_labels, thresholds=DSB_THRESHOLDS) -> float:
    """The 2018 Data Science Bowl score of one image: mean over IoU thresholds t of TP / (TP + FP + FN).

    A true object and a predicted object match at threshold t when their IoU exceeds t (above 0.5 a
    match is unique, since two objects cannot both overlap one by more than half). Unmatched predictions
    are false positives, unmatched true objects false negatives. No object in either image scores 1.
    Inputs are label images (0 = background); two touching nuclei merged into one blob are one object.
    """
    ious = object_iou_matrix(pred_labels, truth_labels)
    thresholds = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    if thresholds.size == 0 or thresholds.min() < 0.5 or thresholds.max() >= 1:
        raise ValueError(f"thresholds must lie in [0.5, 1) so that matches are unique; got {thresholds}")
    present_t = np.isin(np.arange(1, ious.shape[0] + 1), np.asarray(truth_labels))
    present_p = np.isin(np.arange(1, ious.shape[1] + 1), np.asarray(pred_labels))
    ious = ious[present_t][:, present_p]
    n_t, n_p = ious.shape
    if n_t == 0 and n_p == 0:
        return 1.0
    scores = []
    for thr in thresholds:
        tp = int((ious > thr).sum())
        scores.append(tp / (n_t + n_p - tp))   # TP + FP + FN = TP + (n_p - TP) + (n_t - TP)
    return float(np.mean(scores))
