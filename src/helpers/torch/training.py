"""A small PyTorch training loop with progress bars, and its history.

Data come from :mod:`helpers.torch.loaders`::

    train_loader, val_loader, test_loader, info = cifar10_loaders(batch_size=128)

(a seeded training/validation split, normalized with the statistics of the
training part only, augmented on the training part only).

Training::

    model = ...                                    # any nn.Module that maps images to class logits
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    history = fit(model, train_loader, val_loader, epochs=10, optimizer=optimizer)
    test_loss, test_acc = evaluate(model, test_loader)

:func:`fit` runs :func:`train_epoch` and :func:`evaluate` once per epoch, shows
one progress bar per epoch (``progress=False`` turns them off) and returns a
:class:`helpers.history.History` (also importable from here). Everything runs on
:func:`device` (a GPU when there is one), so the same lesson code works on a
laptop CPU, in Colab and on a CUDA machine.

Reproducibility: the split, the shuffling order and the workers' seeds come from
``seed``; the random augmentation draws from PyTorch's global generator (in the
main process with ``num_workers=0``), so seed it too (e.g.
:func:`helpers.seeding.seed_everything`) before building the model and the loaders.
"""

from __future__ import annotations

import math
import time

import torch
from torch import nn
from tqdm.auto import tqdm

from helpers.checks import positive_int
from helpers.history import History
from helpers.torch.metrics import channels_last_batch, channels_last_copy, count_correct, logits_in_slices, model_device
from helpers.torch.modes import ensure_training, eval_mode

__all__ = ["device", "History", "train_epoch", "evaluate", "fit", "train_steps", "train_deep_mlp"]


def device() -> torch.device:
    """The fastest available device: ``cuda`` if there is a CUDA GPU, else ``mps`` (Apple GPU), else ``cpu``."""
    return _best_device()


def _best_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _run_training(model, loader, optimizer, loss_fn, dev, bar, batch_scheduler=None):
    """One pass over ``loader`` with weight updates; returns the sample-weighted mean loss and the accuracy."""
    ensure_training(model)
    total_loss, correct, seen = 0.0, 0, 0
    for x, y in loader:
        x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        logits = model(x)
        loss = loss_fn(logits, y)
        loss.backward()
        optimizer.step()
        if batch_scheduler is not None:
            batch_scheduler.step()
        total_loss += loss.item() * y.numel()
        correct += count_correct(logits.detach(), y)
        seen += y.numel()
        bar.update(1)
        bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.3f}", refresh=False)
    if seen == 0:
        raise ValueError("the training loader yielded no batches")
    return total_loss / seen, correct / seen


def train_epoch(model, loader, optimizer, loss_fn=None, device=None, progress=True) -> tuple[float, float]:
    """Train ``model`` for one pass over ``loader``; returns ``(mean loss, accuracy)`` over the pass.

    For every batch: move it to ``device``, zero the gradients, forward, loss,
    backward, ``optimizer.step()``. A model in eval mode is put in training mode
    (dropout and batch-norm batch statistics on); a model already in training mode
    keeps each submodule's own mode, so a frozen batch norm left in eval mode
    (:func:`helpers.torch.modes.set_frozen_bn_eval`) stays so
    (:func:`helpers.torch.modes.ensure_training`). ``loss_fn`` defaults to ``nn.CrossEntropyLoss()``
    and ``device`` to the device of the model's parameters; the accuracy compares
    ``logits.argmax(dim=1)`` with the labels.
    """
    loss_fn = nn.CrossEntropyLoss() if loss_fn is None else loss_fn
    dev = model_device(model) if device is None else torch.device(device)
    with tqdm(total=len(loader), desc="train", disable=not progress, unit="batch") as bar:
        return _run_training(model, loader, optimizer, loss_fn, dev, bar)


@torch.no_grad()
def evaluate(model, loader, loss_fn=None, device=None, channels_last: bool = False) -> tuple[float, float]:
    """``(mean loss, accuracy)`` of ``model`` on ``loader`` in eval mode, without gradients.

    Eval mode makes dropout do nothing and batch normalization use its running
    statistics; every submodule's previous mode is restored afterwards
    (:func:`helpers.torch.modes.eval_mode`). Defaults as in
    :func:`train_epoch`. ``channels_last=True`` scores a channels-last copy of the model
    (:mod:`helpers.torch.metrics`: faster on a CPU, the same logits up to float rounding).
    """
    loss_fn = nn.CrossEntropyLoss() if loss_fn is None else loss_fn
    dev = model_device(model) if device is None else torch.device(device)
    total_loss, correct, seen = 0.0, 0, 0
    with eval_mode(model):
        if channels_last:
            model = channels_last_copy(model)
        for x, y in loader:
            x, y = x.to(dev), y.to(dev)
            if channels_last:
                x = channels_last_batch(x)
            logits = logits_in_slices(model, x)          # same logits, cache-sized forward passes
            total_loss += loss_fn(logits, y).item() * y.numel()
            correct += count_correct(logits, y)
            seen += y.numel()
    if seen == 0:
        raise ValueError("the loader yielded no batches")
    return total_loss / seen, correct / seen


def fit(model, train_loader, val_loader, epochs, optimizer, loss_fn=None, scheduler=None, device=None,
        progress=True, scheduler_step="epoch") -> History:
    """Train ``model`` for ``epochs`` epochs, validating after each one; returns a :class:`History`.

    Parameters
    ----------
    model : nn.Module mapping a batch of inputs to class logits ``(B, K)``
    train_loader, val_loader : DataLoader of ``(inputs, labels)``; ``val_loader`` may be ``None``
    epochs : int >= 1
    optimizer : a ``torch.optim`` optimizer over ``model.parameters()``
    loss_fn : defaults to ``nn.CrossEntropyLoss()``
    scheduler : optional learning-rate scheduler. It is stepped after every epoch
        (``scheduler_step="epoch"``; ``ReduceLROnPlateau`` receives the validation
        loss) or after every batch (``scheduler_step="batch"``, e.g. ``OneCycleLR``).
    device : where to train; defaults to :func:`device` (the model is moved there)
    progress : one tqdm progress bar per epoch with the running loss and accuracy,
        then the validation results; ``False`` prints nothing.

    When ``train_loader``'s sampler has ``set_epoch`` (a ``DistributedSampler``, e.g. from
    :func:`helpers.torch.distributed.shard_loader`), it is called with ``epoch - 1`` before each
    epoch, so the shuffle differs from epoch to epoch (and is the same on every rank).
    """
    epochs = positive_int(epochs, "epochs")
    if scheduler_step not in ("epoch", "batch"):
        raise ValueError(f"scheduler_step must be 'epoch' or 'batch'; got {scheduler_step!r}")
    if not (hasattr(optimizer, "step") and hasattr(optimizer, "zero_grad")):
        raise ValueError(f"optimizer must be a torch.optim optimizer; got {optimizer!r}")
    if len(train_loader) == 0:
        raise ValueError("train_loader is empty")
    loss_fn = nn.CrossEntropyLoss() if loss_fn is None else loss_fn
    dev = _best_device() if device is None else torch.device(device)
    model.to(dev)
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    history = History()
    sampler = getattr(train_loader, "sampler", None)
    for epoch in range(1, epochs + 1):
        if hasattr(sampler, "set_epoch"):       # a DistributedSampler: a different shuffle every epoch
            sampler.set_epoch(epoch - 1)
        start = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        with tqdm(total=len(train_loader), desc=f"epoch {epoch}/{epochs}", disable=not progress,
                  unit="batch") as bar:
            batch_scheduler = scheduler if scheduler_step == "batch" else None
            train_loss, train_acc = _run_training(model, train_loader, optimizer, loss_fn, dev, bar, batch_scheduler)
            val_loss, val_acc = evaluate(model, val_loader, loss_fn, dev) if val_loader is not None else (math.nan,) * 2
            shown = {"loss": f"{train_loss:.4f}", "acc": f"{train_acc:.3f}"}
            if val_loader is not None:          # no "val_acc=nan" on a bar when there is nothing to validate on
                shown.update(val_loss=f"{val_loss:.4f}", val_acc=f"{val_acc:.3f}")
            bar.set_postfix(**shown)
        if scheduler is not None and scheduler_step == "epoch":
            if plateau:
                scheduler.step(val_loss)
            else:
                scheduler.step()
        history.add_epoch(train_loss, train_acc, val_loss, val_acc, time.perf_counter() - start, lr)
    return history


def train_steps(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int = 1, batch_size: int = 32,
                lr: float = 2e-3, max_steps: int | None = None, seed: int = 0) -> nn.Module:
    """Adam on shuffled mini-batches of in-memory tensors ``x``, ``y``; returns ``model`` (trained in place).

    The batch order comes from ``torch.Generator().manual_seed(seed)`` alone, so two models trained with the
    same ``seed`` see the same batches in the same order (the lessons' controlled comparisons rely on it).
    ``max_steps`` stops after that many optimizer steps. No progress bar, no evaluation: the lessons
    that compare several models call it epoch by epoch and score the model themselves.
    """
    y = torch.as_tensor(y)
    if x.ndim < 2 or y.shape != (len(x),):
        raise ValueError(f"x must be (N, ...) with N >= 1 and y (N,); got {tuple(x.shape)} and {tuple(y.shape)}")
    epochs, batch_size = positive_int(epochs, "epochs"), positive_int(batch_size, "batch_size")
    if max_steps is not None:
        max_steps = positive_int(max_steps, "max_steps")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    step = 0
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=order)
        for i in range(0, len(x), batch_size):
            idx = perm[i:i + batch_size]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if max_steps is not None and step >= max_steps:
                return model
    return model


def train_deep_mlp(activation: str, depth: int, x_train: torch.Tensor, y_train, x_test: torch.Tensor, y_test,
                   seed: int, epochs: int = 5, lr: float = 0.05, batch_size: int = 128) -> dict:
    """One run of the activation-and-depth experiment: gradients at initialization, SGD training, dead units.

    ``torch.manual_seed(seed)``, then :func:`helpers.torch.models.deep_mlp` (``activation``, ``depth``); one
    backward pass of the cross-entropy on the first 256 training images records every layer's weight-gradient
    norm (:func:`helpers.torch.resnet.gradient_norms`, input side first); then ``epochs`` epochs of SGD
    (momentum 0.9) on mini-batches of a reshuffle from ``torch.Generator().manual_seed(seed)``. Returns
    ``acc`` (test accuracy), ``grads`` (the norms) and ``dead``: the mean over hidden layers of the fraction of
    units whose activation is <= 0 for every test image. Inputs are flat: ``x`` of shape (N, 784).
    """
    from helpers.torch.models import deep_mlp
    from helpers.torch.resnet import gradient_norms

    y_train, y_test = torch.as_tensor(y_train), torch.as_tensor(y_test)
    if x_train.ndim != 2 or y_train.shape != (len(x_train),) or x_test.ndim != 2 or y_test.shape != (len(x_test),):
        raise ValueError(f"x_train and x_test must be flat (N, features) with labels (N,); got {tuple(x_train.shape)}, "
                         f"{tuple(y_train.shape)}, {tuple(x_test.shape)}, {tuple(y_test.shape)}")
    epochs, batch_size = positive_int(epochs, "epochs"), positive_int(batch_size, "batch_size")
    torch.manual_seed(seed)
    model = deep_mlp(activation, depth, n_in=x_train.shape[1])
    model.zero_grad()
    nn.functional.cross_entropy(model(x_train[:256]), y_train[:256]).backward()
    grads = [g for _, g in gradient_norms(model)]
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(x_train), generator=gen).split(batch_size):
            loss = nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        acc = float((model(x_test).argmax(1) == y_test).float().mean())
        h, never_positive = x_test, []
        for module in model:
            h = module(h)
            if not isinstance(module, nn.Linear):
                never_positive.append((h <= 0).all(dim=0).float().mean().item())
    return {"acc": acc, "grads": grads, "dead": float(sum(never_positive) / len(never_positive))}
