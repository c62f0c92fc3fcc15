"""Plots for :mod:`helpers.torch.training`: learning curves, the confusion matrix, and predictions on images.

The confusion matrix itself is computed by :func:`helpers.numpy.metrics.confusion_matrix`; the functions here
return matplotlib figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from helpers.book.plots import plot_curves, show_matrix

__all__ = ["plot_history", "plot_confusion", "show_predictions"]


def _plt():
    import matplotlib.pyplot as plt

    return plt


def plot_history(history, title: str | None = None):
    """Loss (left) and accuracy (right) per epoch, training and validation; returns the figure.

    ``history`` is a :class:`helpers.history.History` or a mapping with the lists
    ``train_loss``, ``val_loss``, ``train_acc`` and ``val_acc`` (validation ones may be
    missing or NaN). Epochs count from 1.
    """
    data = history.as_dict() if hasattr(history, "as_dict") else history
    if not isinstance(data, Mapping) or not data.get("train_loss"):
        raise ValueError("history must be a History (or a dict of lists) with at least one epoch of train_loss")
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for ax, metric, label in ((axes[0], "loss", "loss"), (axes[1], "acc", "accuracy")):
        series = {f"{part} {label}": data[f"{part}_{metric}"] for part in ("train", "val")
                  if len(data.get(f"{part}_{metric}", ())) and np.isfinite(data[f"{part}_{metric}"]).any()}
        plot_curves(series, ylabel=label, ax=ax)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig




def plot_confusion(cm, classes: Sequence[str], normalize: bool = False, title: str | None = None, ax=None):
    """Draw a confusion matrix (rows: true class, columns: predicted class); returns the figure.

    With ``normalize=True`` every row is divided by its total, so the diagonal shows
    each class's recall.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be a square matrix; got shape {cm.shape}")
    if len(classes) != len(cm):
        raise ValueError(f"got {len(classes)} class names for a {len(cm)}x{len(cm)} matrix")
    values = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    plt = _plt()
    if ax is None:
        size = 1.2 + 0.5 * len(cm)
        _, ax = plt.subplots(figsize=(size + 0.6, size))
    fontsize = 9 if len(cm) <= 10 else 7
    show_matrix(ax, values, cmap="Blues", vmin=0, fmt="{:.2f}" if normalize else "{:.0f}", fontsize=fontsize)
    ticks = np.arange(len(cm))
    ax.set_xticks(ticks, list(classes), rotation=45, ha="right", fontsize=fontsize)
    ax.set_yticks(ticks, list(classes), fontsize=fontsize)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title if title is not None else ("confusion matrix (row-normalized)" if normalize
                                                  else "confusion matrix"))
    ax.figure.tight_layout()
    return ax.figure


def _to_hwc(images, mean, std) -> np.ndarray:
    if hasattr(images, "detach"):  # a torch tensor, possibly on a GPU
        images = images.detach().cpu().numpy()
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(f"images must have shape (N, H, W, C), (N, C, H, W) or (N, H, W); got {x.shape}")
    if x.shape[1] in (1, 3) and x.shape[-1] not in (1, 3):
        x = x.transpose(0, 2, 3, 1)  # channels first, as PyTorch batches are
    x = x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else x.astype(np.float64)
    if mean is not None or std is not None:
        m = np.asarray(mean if mean is not None else 0.0, dtype=float)
        s = np.asarray(std if std is not None else 1.0, dtype=float)
        x = x * s + m  # undo the normalization of the loaders
    x = np.clip(x, 0, 1)
    return x[..., 0] if x.shape[-1] == 1 else x


def show_predictions(images, labels, preds, classes: Sequence[str], mean=None, std=None, ncols: int = 8,
                     size: float = 1.6, max_images: int = 32):
    """Images with their predicted class as title: green when right, red with the true class when wrong.

    ``images`` may be uint8 ``(N, H, W, C)`` arrays or a float batch ``(N, C, H, W)``
    from a loader; pass the loader's ``mean`` and ``std`` (``info["mean"]``,
    ``info["std"]``) to undo its normalization. At most ``max_images`` are shown.
    Returns the figure.
    """
    labels, preds = np.asarray(labels), np.asarray(preds)
    x = _to_hwc(images, mean, std)
    if not (len(x) == len(labels) == len(preds)) or len(x) == 0:
        raise ValueError(f"need as many labels and predictions as images (at least one); got {len(x)} images, "
                         f"{len(labels)} labels, {len(preds)} predictions")
    n = min(len(x), max_images)
    plt = _plt()
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (size + 0.25) * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for k in range(n):
        ax = axes.flat[k]
        ax.imshow(x[k], cmap="gray" if x[k].ndim == 2 else None, vmin=0, vmax=1)
        right = preds[k] == labels[k]
        text = str(classes[preds[k]]) + ("" if right else f"\n(true: {classes[labels[k]]})")
        ax.set_title(text, fontsize=8, color="tab:green" if right else "tab:red")
    fig.tight_layout()
    return fig
