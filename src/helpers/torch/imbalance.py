"""Class imbalance in PyTorch: a seeded imbalanced split, the softmax focal loss, and one training run per fix.

:func:`imbalanced_split` keeps ``n_minor`` training images of each minority class and ``n_major`` of every
other class (and as many again, disjoint, for validation); :func:`train_imbalance_variant` trains a model with
one of :data:`IMBALANCE_METHODS`: plain cross-entropy, cross-entropy with "balanced" class weights
``n / (K n_c)``, class-balanced resampling of every batch, or the softmax focal loss (Lin et al., 2017).
The metrics are NumPy's (:func:`helpers.numpy.classification_metrics.imbalance_scores`).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from helpers.checks import positive_int

__all__ = ["IMBALANCE_METHODS", "imbalanced_split", "softmax_focal_loss", "train_imbalance_variant"]

IMBALANCE_METHODS = ("plain", "class weights", "resampling", "focal loss")


def imbalanced_split(labels, minority, n_major: int, n_minor: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of an imbalanced training set and a disjoint validation set with the same class counts.

    For every class ``c`` (in order 0, 1, ...), a permutation of its indices from ``default_rng(seed)`` (one
    generator for all classes); the first ``n`` go to training and the next ``n`` to validation, with
    ``n = n_minor`` for the classes in ``minority`` and ``n_major`` otherwise.
    """
    labels = np.asarray(labels)
    n_major, n_minor = positive_int(n_major, "n_major"), positive_int(n_minor, "n_minor")
    classes = int(labels.max()) + 1 if labels.size else 0
    rng, train_idx, val_idx = np.random.default_rng(seed), [], []
    for c in range(classes):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n = n_minor if c in minority else n_major
        if len(idx) < 2 * n:
            raise ValueError(f"class {c} has {len(idx)} images; the split needs {2 * n} (training + validation)")
        train_idx.append(idx[:n])
        val_idx.append(idx[n:2 * n])
    return np.concatenate(train_idx), np.concatenate(val_idx)


def softmax_focal_loss(logits: torch.Tensor, labels: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Softmax focal loss, mean over the batch: ``-(1 - p_y)^gamma log p_y`` (the twin of the NumPy version)."""
    logp = F.log_softmax(logits, 1).gather(1, labels[:, None])[:, 0]
    return (-(1 - logp.exp()) ** gamma * logp).mean()


def train_imbalance_variant(make_model, method: str, x_train: torch.Tensor, y_train, seed: int, steps: int = 250,
                            batch_size: int = 64, lr: float = 2e-3, n_classes: int = 10) -> nn.Module:
    """Train ``make_model()`` (built after ``torch.manual_seed(seed)``) with one imbalance fix; return it in eval mode.

    ``steps`` Adam steps on batches of ``batch_size`` drawn with replacement from ``torch.Generator().manual_seed
    (seed)``: uniformly over the images, or for ``"resampling"`` with probability ``1 / n_c`` for an image of
    class ``c`` (every class equally often). ``"class weights"`` weights the cross-entropy of class ``c`` by
    ``n / (K n_c)``; ``"focal loss"`` uses :func:`softmax_focal_loss` with ``gamma = 2``.
    """
    if method not in IMBALANCE_METHODS:
        raise ValueError(f"method must be one of {IMBALANCE_METHODS}, got {method!r}")
    y_train = torch.as_tensor(y_train).long()
    if y_train.shape != (len(x_train),):
        raise ValueError(f"y_train must be ({len(x_train)},), got {tuple(y_train.shape)}")
    steps, batch_size = positive_int(steps, "steps"), positive_int(batch_size, "batch_size")
    counts = np.bincount(y_train.numpy(), minlength=n_classes)
    if (counts == 0).any():
        raise ValueError(f"every class needs at least one training image; counts {counts.tolist()}")
    class_weights = torch.tensor(counts.sum() / (n_classes * counts), dtype=torch.float32)
    sample_probs = torch.from_numpy(1 / counts[y_train.numpy()])
    torch.manual_seed(seed)
    model, gen = make_model(), torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        if method == "resampling":
            idx = torch.multinomial(sample_probs, batch_size, replacement=True, generator=gen)
        else:
            idx = torch.randint(0, len(y_train), (batch_size,), generator=gen)
        logits, labels = model(x_train[idx]), y_train[idx]
        if method == "class weights":
            loss = F.cross_entropy(logits, labels, weight=class_weights)
        elif method == "focal loss":
            loss = softmax_focal_loss(logits, labels)
        else:
            loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()
