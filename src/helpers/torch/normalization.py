"""Small CIFAR-10 CNNs with a choice of normalization layer, and a training run that logs every step.

:func:`norm_cnn` builds three conv-norm-ReLU blocks (``width``, ``2 width``, ``4 width`` channels), global
average pooling and a linear classifier, with batch normalization, LayerNorm, GroupNorm, local response
normalization or nothing after each convolution (:func:`norm_layer`), placed before or after the ReLU, and
optionally a dense hidden layer and a batch norm on the class scores. :func:`train_logged` trains such a
network with SGD (momentum 0.9) and records the loss of every step, the mean training loss of every epoch
and the validation accuracy after every epoch; :func:`seeded_run` builds and trains one from a fixed seed
with a fixed order of training batches, so that the same call gives the same numbers again (with the same
PyTorch version and thread count).
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from helpers.torch.training import evaluate

__all__ = ["NORMS", "norm_layer", "norm_cnn", "train_logged", "seeded_run"]

NORMS = ("none", "BN", "LayerNorm", "GroupNorm", "LRN")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """The normalization ``kind`` (one of :data:`NORMS`) for a convolution output with ``channels`` channels.

    "LayerNorm" is ``GroupNorm(1, channels)`` (all channels and positions of a sample), "GroupNorm" is
    ``GroupNorm(4, channels)``, "LRN" is ``LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2)``.
    """
    if kind not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}; got {kind!r}")
    if not isinstance(channels, int) or channels < 1 or (kind == "GroupNorm" and channels % 4):
        raise ValueError(f"channels must be a positive integer (a multiple of 4 for GroupNorm); got {channels!r}")
    return {"none": lambda: nn.Identity(),
            "BN": lambda: nn.BatchNorm2d(channels),
            "LayerNorm": lambda: nn.GroupNorm(1, channels),
            "GroupNorm": lambda: nn.GroupNorm(4, channels),
            "LRN": lambda: nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)}[kind]()


def norm_cnn(norm: str = "BN", where: str = "before", hidden: int = 0, output_bn: bool = False, width: int = 16,
             dense_norm: str | None = None) -> nn.Sequential:
    """conv-norm-ReLU blocks (width, 2 width, 4 width channels), global average pooling, linear classifier.

    ``where="after"`` puts the normalization after the ReLU. When a mean-removing normalization (BN,
    LayerNorm, GroupNorm) directly follows a convolution, the convolution has no bias. ``hidden > 0`` adds a
    dense hidden layer with its own normalization (``BatchNorm1d`` for BN, ``LayerNorm`` otherwise;
    ``dense_norm="none"`` leaves it out and gives the dense layer a bias); ``output_bn=True`` normalizes the
    class scores with a ``BatchNorm1d``.
    """
    norm_layer(norm, 4)                                   # validates norm
    if where not in ("before", "after"):
        raise ValueError(f"where must be 'before' or 'after' (the ReLU); got {where!r}")
    if not isinstance(hidden, int) or hidden < 0:
        raise ValueError(f"hidden must be a non-negative integer (0: no dense hidden layer); got {hidden!r}")
    if not isinstance(width, int) or width < 4 or width % 4:
        raise ValueError(f"width must be a positive multiple of 4; got {width!r}")
    if dense_norm not in (None, "none"):
        raise ValueError(f"dense_norm must be None (normalize the dense layer) or 'none'; got {dense_norm!r}")
    layers, c_in = [], 3
    for block, c_out in enumerate((width, 2 * width, 4 * width)):
        mean_removed = norm in ("BN", "LayerNorm", "GroupNorm") and where == "before"
        layers.append(nn.Conv2d(c_in, c_out, 3, padding=1, bias=not mean_removed))
        pair = [norm_layer(norm, c_out), nn.ReLU()]
        layers += pair if where == "before" else pair[::-1]
        layers.append(nn.MaxPool2d(2) if block < 2 else nn.AdaptiveAvgPool2d(1))
        c_in = c_out
    layers.append(nn.Flatten())
    if hidden:
        if dense_norm == "none":
            layers += [nn.Linear(c_in, hidden), nn.ReLU()]
        else:
            layers += [nn.Linear(c_in, hidden, bias=False),
                       nn.BatchNorm1d(hidden) if norm == "BN" else nn.LayerNorm(hidden), nn.ReLU()]
        c_in = hidden
    layers.append(nn.Linear(c_in, 10))
    if output_bn:
        layers.append(nn.BatchNorm1d(10))
    return nn.Sequential(*layers)


def train_logged(model: nn.Module, train_loader, val_loader, lr: float, epochs: int = 4, device=None) -> dict:
    """Train ``model`` with SGD (momentum 0.9, learning rate ``lr``) for ``epochs`` epochs; return its log.

    The log holds ``step_loss`` (the loss of every step), ``train_loss`` (the mean step loss of every
    epoch), ``val_acc`` (validation accuracy after every epoch, via :func:`helpers.torch.training.evaluate`)
    and ``seconds_per_epoch``.
    """
    if not (isinstance(lr, (int, float)) and np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number; got {lr!r}")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer; got {epochs!r}")
    dev = torch.device(device) if device is not None else torch.device("cpu")
    model.to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    log = {"step_loss": [], "train_loss": [], "val_acc": []}
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        losses = []
        for x, y in train_loader:
            x, y = x.to(dev), y.to(dev)
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        log["step_loss"] += losses
        log["train_loss"].append(float(np.mean(losses)))
        log["val_acc"].append(evaluate(model, val_loader, device=dev)[1])
    log["seconds_per_epoch"] = (time.perf_counter() - start) / epochs
    return log


def seeded_run(norm: str, lr: float, loaders, epochs: int = 4, seed: int = 0, device=None, **net_options):
    """``(model, log)``: :func:`norm_cnn` built after ``torch.manual_seed(seed)``, trained by :func:`train_logged`.

    ``loaders`` is ``(train_loader, val_loader)``; the training loader's generator (a shuffling loader from
    :func:`helpers.torch.loaders.image_loaders`) is reseeded with ``seed`` first, so every run sees the
    same order of batches.
    """
    train_loader, val_loader = loaders
    generator = getattr(train_loader, "generator", None)
    if generator is None:
        raise ValueError("the training loader needs a torch.Generator (DataLoader(..., generator=...)) to reseed")
    torch.manual_seed(seed)
    model = norm_cnn(norm, **net_options)
    generator.manual_seed(seed)
    return model, train_logged(model, train_loader, val_loader, lr, epochs, device)
