"""The degradation experiment of the ResNet paper at a small budget: its data and its recorded training run.

:func:`degradation_subset` draws the seeded CIFAR-10 training subset the experiment uses and
normalizes it with its own channel statistics; :func:`train_recording_gradients` trains a
:class:`~helpers.torch.resnet.CifarResNet` (plain or residual) on it with plain SGD steps in a
seeded order and records, per epoch, the mean training loss and accuracy and the mean gradient norm
of every layer of the main path. ``scripts/resnet_degradation.py`` runs the whole sweep (depths,
plain and residual, shortcut types, several seeds) and writes the log the ResNet lesson plots.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from helpers.checks import positive_int
from helpers.torch.loaders import channel_stats
from helpers.torch.resnet import CifarResNet, gradient_norms

__all__ = ["degradation_subset", "train_recording_gradients"]


def degradation_subset(images, labels, n: int = 5000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` training images drawn without replacement by ``np.random.default_rng(seed)``, as tensors.

    ``images`` are uint8 ``(N, 32, 32, 3)`` (a :class:`~helpers.data.ArrayDataset`'s ``.x``), ``labels``
    ``(N,)``. Returns float32 images ``(n, 3, 32, 32)`` normalized with the subset's own per-channel mean
    and standard deviation, and int64 labels.
    """
    images, labels = np.asarray(images), np.asarray(labels)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 of shape (N, H, W, 3); got {images.dtype} {images.shape}")
    if labels.shape != (len(images),):
        raise ValueError(f"labels must have shape ({len(images)},); got {labels.shape}")
    n = positive_int(n, "n")
    if n > len(images):
        raise ValueError(f"n must be at most the {len(images)} images given; got {n}")
    subset = np.random.default_rng(seed).permutation(len(images))[:n]
    mean, std = channel_stats(images[subset])
    mean, std = (torch.tensor(v, dtype=torch.float32).view(1, 3, 1, 1) for v in (mean, std))
    x = (torch.from_numpy(images[subset]).permute(0, 3, 1, 2).float() / 255 - mean) / std
    return x.contiguous(), torch.from_numpy(labels[subset].astype(np.int64))


def train_recording_gradients(x, y, depth: int, residual: bool, epochs: int = 4, lr: float = 0.05, batch: int = 128,
                              seed: int = 0, width: int = 8, **resnet_options) -> tuple[CifarResNet, dict]:
    """Train ``CifarResNet(depth, width, residual, **resnet_options)`` on ``(x, y)``; return ``(model, log)``.

    SGD with momentum 0.9 and weight decay 5e-4, batches of ``batch`` in an order drawn from
    ``torch.Generator().manual_seed(seed)``, the weights initialized after ``torch.manual_seed(seed)``.
    ``log`` holds per epoch ``loss`` and ``acc`` (averaged over the epoch's batches as they were
    trained) and ``grad_norms`` (the mean norm of every main-path layer's weight gradient over the
    epoch, as :func:`~helpers.torch.resnet.gradient_norms` orders them), plus ``final_loss``,
    ``final_acc`` (the last epoch's) and ``seconds`` (wall time of the training loop).
    """
    if not (isinstance(x, torch.Tensor) and x.ndim == 4 and x.shape[1] == 3):
        raise ValueError(f"x must be a float tensor of shape (N, 3, H, W); got {getattr(x, 'shape', type(x))}")
    if not (isinstance(y, torch.Tensor) and y.shape == (len(x),)):
        raise ValueError(f"y must be a tensor of {len(x)} labels; got {getattr(y, 'shape', type(y))}")
    epochs, batch = positive_int(epochs, "epochs"), positive_int(batch, "batch")
    torch.manual_seed(seed)
    model = CifarResNet(depth, width=width, residual=residual, **resnet_options)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    order = torch.Generator().manual_seed(seed)
    log = {"loss": [], "acc": [], "grad_norms": [], "seconds": 0.0}
    start = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(len(y), generator=order)
        total, correct, norms = 0.0, 0, []
        for i in range(0, len(perm), batch):
            idx = perm[i:i + batch]
            logits = model(x[idx])
            loss = F.cross_entropy(logits, y[idx])
            opt.zero_grad()
            loss.backward()
            norms.append([n for _, n in gradient_norms(model)])
            opt.step()
            total += loss.item() * len(idx)
            correct += (logits.argmax(1) == y[idx]).sum().item()
        log["loss"].append(total / len(y))
        log["acc"].append(correct / len(y))
        log["grad_norms"].append(np.mean(norms, axis=0).tolist())
    log["seconds"] = time.perf_counter() - start
    log["final_loss"], log["final_acc"] = log["loss"][-1], log["acc"][-1]
    return model, log
