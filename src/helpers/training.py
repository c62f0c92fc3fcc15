"""A small PyTorch training toolkit: CIFAR-10 loaders, a training loop with progress bars, and its history.

Data::

    train_loader, val_loader, test_loader, info = cifar10_loaders(batch_size=128)

splits the training images into a training and a validation part (seeded),
normalizes every channel with the mean and standard deviation of the *training
part only* (the validation and test images must not leak into anything the model
or its preprocessing learns from), and augments the training part only (random
crop with 4 pixels of padding and horizontal flips, redrawn every epoch).
:func:`image_loaders` does the same for any uint8 image arrays (e.g. MNIST).

Training::

    model = ...                                    # any nn.Module that maps images to class logits
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    history = fit(model, train_loader, val_loader, epochs=10, optimizer=optimizer)
    test_loss, test_acc = evaluate(model, test_loader)

:func:`fit` runs :func:`train_epoch` and :func:`evaluate` once per epoch, shows
one progress bar per epoch (``progress=False`` turns them off) and returns a
:class:`History`. Everything runs on :func:`device` (a GPU when there is one), so
the same lesson code works on a laptop CPU, in Colab and on a CUDA machine.

Reproducibility: the split, the shuffling order and the workers' seeds come from
``seed``; the random augmentation draws from PyTorch's global generator (in the
main process with ``num_workers=0``), so seed it too (e.g.
:func:`helpers.seeding.seed_everything`) before building the model and the loaders.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2
from tqdm.auto import tqdm

__all__ = [
    "ImageDataset",
    "split_indices",
    "channel_stats",
    "image_transform",
    "image_loaders",
    "cifar10_loaders",
    "device",
    "History",
    "train_epoch",
    "evaluate",
    "fit",
    "predict",
]


# --------------------------------------------------------------------------- data


def _check_images(x, y, name: str = "x"):
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype != np.uint8 or x.ndim not in (3, 4):
        raise ValueError(
            f"{name} must be uint8 images of shape (N, H, W, C) or (N, H, W); got {x.dtype} array of shape {x.shape}"
        )
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"labels must have shape ({len(x)},), one per image; got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be integers (class indices); got {y.dtype}")
    return x, y


class ImageDataset(Dataset):
    """Images in a uint8 array with integer labels, as a PyTorch ``Dataset`` (like ``TensorDataset``).

    ``ImageDataset(x, y, transform=None)`` with ``x`` of shape ``(N, H, W, C)`` (or
    ``(N, H, W)`` for grey images) and ``y`` of shape ``(N,)``. Item ``i`` is
    ``(transform(image), label)`` where ``image`` is the uint8 tensor ``(C, H, W)``
    (channels first, as PyTorch's layers expect) and ``label`` an int64 scalar
    tensor. Without a transform the image stays uint8; :func:`image_transform`
    makes the usual one (augment, convert to float, normalize).
    """

    def __init__(self, x, y, transform=None):
        x, y = _check_images(x, y)
        if x.ndim == 3:
            x = x[..., None]
        self.images = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2)  # a view: no copy
        self.labels = torch.from_numpy(y.astype(np.int64))
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        image = self.images[i]
        if self.transform is not None:
            image = self.transform(image)
        return image, self.labels[i]


def split_indices(n: int, val_fraction: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of ``range(n)`` into sorted ``(train_indices, val_indices)``.

    The validation part holds ``round(n * val_fraction)`` indices; both parts are
    non-empty and disjoint, and together they are ``range(n)``.
    """
    if not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an int >= 2 to split into training and validation parts; got {n!r}")
    _check_fraction(val_fraction)
    n_val = int(round(n * val_fraction))
    if not 1 <= n_val <= n - 1:
        raise ValueError(f"val_fraction={val_fraction} of {n} samples leaves an empty training or validation part")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def channel_stats(x, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of uint8 images ``(N, H, W, C)``, on the [0, 1] scale.

    Computed in float64 over every pixel of every image, ``chunk`` images at a time
    (so a large set never needs a float copy in memory). Grey images ``(N, H, W)``
    give one channel.
    """
    x = np.asarray(x)
    if x.dtype != np.uint8 or x.ndim not in (3, 4) or len(x) == 0:
        raise ValueError(f"x must be non-empty uint8 images (N, H, W, C) or (N, H, W); got {x.dtype} {x.shape}")
    if x.ndim == 3:
        x = x[..., None]
    total = np.zeros(x.shape[-1])
    squares = np.zeros(x.shape[-1])
    for start in range(0, len(x), chunk):
        block = x[start : start + chunk].astype(np.float64) / 255.0
        total += block.sum(axis=(0, 1, 2))
        squares += (block**2).sum(axis=(0, 1, 2))
    count = x.size // x.shape[-1]
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)


def image_transform(mean, std, augment: bool = False, size=None, padding: int = 4):
    """The transform that turns a uint8 image tensor ``(C, H, W)`` into the float input of a network.

    With ``augment=True`` it first applies a random crop of ``size`` (the image's
    own size) from the image zero-padded by ``padding`` pixels on every side (a
    random shift of up to ``padding`` pixels) and a random horizontal flip, both on
    the uint8 image; then (always) it scales to [0, 1] and normalizes each channel,
    ``(x - mean) / std``. Built from ``torchvision.transforms.v2``.
    """
    steps = []
    if augment:
        if size is None:
            raise ValueError("augment=True needs size, the (H, W) the random crop returns")
        steps += [v2.RandomCrop(size, padding=padding), v2.RandomHorizontalFlip()]
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
    return v2.Compose(steps)


def _check_fraction(val_fraction):
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float, np.floating)) or not (
        0 < val_fraction < 1
    ):
        raise ValueError(f"val_fraction must be a number strictly between 0 and 1; got {val_fraction!r}")


def _check_loader_args(batch_size, val_fraction, augment, seed, subset, num_workers):
    for name, value, minimum in (("batch_size", batch_size, 1), ("seed", seed, 0), ("num_workers", num_workers, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")
    _check_fraction(val_fraction)
    if not isinstance(augment, (bool, np.bool_)):
        raise ValueError(f"augment must be True or False; got {augment!r}")
    if subset is not None and (isinstance(subset, bool) or not isinstance(subset, (int, np.integer)) or subset < 2):
        raise ValueError(f"subset must be None or an int >= 2 (the number of training images to use); got {subset!r}")


def image_loaders(train, test=None, batch_size=128, val_fraction=0.1, augment=True, seed=0, subset=None,
                  num_workers=0):
    """Training, validation and test ``DataLoader`` objects for uint8 image arrays.

    Parameters
    ----------
    train, test : datasets with ``x`` (uint8 ``(N, H, W, C)`` or ``(N, H, W)``) and ``y``
        (int labels), such as :class:`helpers.data.ArrayDataset`; ``test`` may be ``None``.
        ``classes`` and ``source`` are copied into ``info`` when present.
    batch_size : int
    val_fraction : float in (0, 1)
        Share of the training images held out for validation (seeded random split).
    augment : bool
        Random crop (padding 4) and horizontal flip, on the training part only.
    seed : int
        Seeds the subset, the split, the shuffling order and the loader workers.
    subset : int or None
        Use only this many training images (a seeded random choice, before the
        split), e.g. for a fast run; the test set is left whole.
    num_workers : int
        Background processes that prepare batches (0: in the main process).

    Returns
    -------
    train_loader (shuffled, augmented), val_loader, test_loader (``None`` without
    ``test``), and ``info``: a dict with ``classes``, ``source``, ``sizes``
    (``{"train", "val", "test"}``), ``mean`` and ``std`` (per channel, on the [0, 1]
    scale, of the training part only), ``augment``, and ``train_indices`` /
    ``val_indices`` (positions in ``train.x``).
    """
    _check_loader_args(batch_size, val_fraction, augment, seed, subset, num_workers)
    x, y = _check_images(train.x, train.y, "train.x")
    pool = np.arange(len(x))
    if subset is not None:
        if subset > len(x):
            raise ValueError(f"subset={subset} is more than the {len(x)} training images")
        pool = np.sort(np.random.default_rng(seed).choice(len(x), size=subset, replace=False))
    tr, va = split_indices(len(pool), val_fraction, seed)
    train_idx, val_idx = pool[tr], pool[va]
    mean, std = channel_stats(x[train_idx])
    if min(std) == 0:
        raise ValueError(f"a channel of the training images is constant (std {std}); it cannot be normalized")
    size = x.shape[1:3]
    plain = image_transform(mean, std)
    train_ds = ImageDataset(x[train_idx], y[train_idx], image_transform(mean, std, augment, size) if augment else plain)
    val_ds = ImageDataset(x[val_idx], y[val_idx], plain)
    common = dict(batch_size=batch_size, num_workers=num_workers)
    generator = torch.Generator().manual_seed(seed)
    loaders = [
        DataLoader(train_ds, shuffle=True, generator=generator, **common),
        DataLoader(val_ds, shuffle=False, **common),
        None,
    ]
    if test is not None:
        tx, ty = _check_images(test.x, test.y, "test.x")
        if tx.shape[1:] != x.shape[1:]:
            raise ValueError(f"test images have shape {tx.shape[1:]} but training images {x.shape[1:]}")
        loaders[2] = DataLoader(ImageDataset(tx, ty, plain), shuffle=False, **common)
    info = {
        "classes": tuple(getattr(train, "classes", ()) or ()),
        "source": getattr(train, "source", ""),
        "test_source": getattr(test, "source", "") if test is not None else "",
        "sizes": {"train": len(train_idx), "val": len(val_idx), "test": len(test.y) if test is not None else 0},
        "mean": mean,
        "std": std,
        "augment": bool(augment),
        "train_indices": train_idx,
        "val_indices": val_idx,
    }
    return loaders[0], loaders[1], loaders[2], info


def cifar10_loaders(batch_size=128, val_fraction=0.1, augment=True, seed=0, subset=None, num_workers=0):
    """CIFAR-10 as ``(train_loader, val_loader, test_loader, info)``: :func:`image_loaders` on
    :func:`helpers.data.load_cifar10`.

    The images come from the book's data folder (torchvision's files, or the offline
    copy with a 20,000-image training subset; ``info["source"]`` says which) or
    are downloaded by torchvision when online. The validation images come out of
    the training set; the 10,000 test images are only for the final evaluation.
    Batches are ``(B, 3, 32, 32)`` float32 images and ``(B,)`` int64 labels.
    """
    from helpers.data import load_cifar10

    _check_loader_args(batch_size, val_fraction, augment, seed, subset, num_workers)  # before loading anything
    return image_loaders(load_cifar10("train"), load_cifar10("test"), batch_size=batch_size,
                         val_fraction=val_fraction, augment=augment, seed=seed, subset=subset,
                         num_workers=num_workers)


# --------------------------------------------------------------------------- training


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


_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc")


@dataclass
class History:
    """What :func:`fit` measured, one entry per epoch in each list.

    ``train_loss`` / ``train_acc``: averages over the epoch's training batches (with
    dropout, augmentation and batch statistics active, measured while the weights
    changed); ``val_loss`` / ``val_acc``: on the validation loader after the epoch,
    in eval mode (NaN when ``fit`` had no validation loader); ``seconds``: wall time
    of the epoch; ``lr``: the first parameter group's learning rate at the start of the epoch.
    """

    train_loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    lr: list = field(default_factory=list)

    def add_epoch(self, train_loss, train_acc, val_loss, val_acc, seconds, lr):
        """Append the measurements of one epoch."""
        for name, value in zip(("train_loss", "train_acc", "val_loss", "val_acc", "seconds", "lr"),
                               (train_loss, train_acc, val_loss, val_acc, seconds, lr), strict=True):
            getattr(self, name).append(float(value))

    def best(self, metric: str = "val_acc") -> tuple[int, float]:
        """``(epoch, value)`` of the best epoch for ``metric``: the lowest loss or the highest accuracy.

        Epochs count from 1, as in the progress bars and :func:`plot_history`.
        """
        if metric not in _METRICS:
            raise ValueError(f"metric must be one of {_METRICS}; got {metric!r}")
        values = np.asarray(getattr(self, metric), dtype=float)
        if not np.isfinite(values).any():
            raise ValueError(f"no {metric} recorded yet" if len(values) == 0 else f"{metric} has no finite value")
        values = np.where(np.isfinite(values), values, np.inf if metric.endswith("loss") else -np.inf)
        i = int(np.argmin(values) if metric.endswith("loss") else np.argmax(values))
        return i + 1, float(values[i])

    def as_dict(self) -> dict[str, list[float]]:
        """The lists as a plain dict (copies), e.g. to save with ``json``."""
        return asdict(self)

    def __len__(self) -> int:
        return len(self.train_loss)


def _correct(logits: torch.Tensor, labels: torch.Tensor) -> int:
    return int((logits.argmax(dim=1) == labels).sum())


def _run_training(model, loader, optimizer, loss_fn, dev, bar, batch_scheduler=None):
    """One pass over ``loader`` with weight updates; returns the sample-weighted mean loss and the accuracy."""
    model.train()
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
        correct += _correct(logits.detach(), y)
        seen += y.numel()
        bar.update(1)
        bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.3f}", refresh=False)
    if seen == 0:
        raise ValueError("the training loader yielded no batches")
    return total_loss / seen, correct / seen


def _model_device(model) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def train_epoch(model, loader, optimizer, loss_fn=None, device=None, progress=True) -> tuple[float, float]:
    """Train ``model`` for one pass over ``loader``; returns ``(mean loss, accuracy)`` over the pass.

    For every batch: move it to ``device``, zero the gradients, forward, loss,
    backward, ``optimizer.step()``. The model is put in training mode (dropout and
    batch-norm batch statistics on). ``loss_fn`` defaults to ``nn.CrossEntropyLoss()``
    and ``device`` to the device of the model's parameters; the accuracy compares
    ``logits.argmax(dim=1)`` with the labels.
    """
    loss_fn = nn.CrossEntropyLoss() if loss_fn is None else loss_fn
    dev = _model_device(model) if device is None else torch.device(device)
    with tqdm(total=len(loader), desc="train", disable=not progress, unit="batch") as bar:
        return _run_training(model, loader, optimizer, loss_fn, dev, bar)


@torch.no_grad()
def evaluate(model, loader, loss_fn=None, device=None) -> tuple[float, float]:
    """``(mean loss, accuracy)`` of ``model`` on ``loader`` in eval mode, without gradients.

    Eval mode makes dropout do nothing and batch normalization use its running
    statistics; the model's previous mode is restored afterwards. Defaults as in
    :func:`train_epoch`.
    """
    loss_fn = nn.CrossEntropyLoss() if loss_fn is None else loss_fn
    dev = _model_device(model) if device is None else torch.device(device)
    was_training = model.training
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    try:
        for x, y in loader:
            x, y = x.to(dev), y.to(dev)
            logits = model(x)
            total_loss += loss_fn(logits, y).item() * y.numel()
            correct += _correct(logits, y)
            seen += y.numel()
    finally:
        model.train(was_training)
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
    """
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs must be an int >= 1; got {epochs!r}")
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
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        with tqdm(total=len(train_loader), desc=f"epoch {epoch}/{epochs}", disable=not progress,
                  unit="batch") as bar:
            batch_scheduler = scheduler if scheduler_step == "batch" else None
            train_loss, train_acc = _run_training(model, train_loader, optimizer, loss_fn, dev, bar, batch_scheduler)
            val_loss, val_acc = evaluate(model, val_loader, loss_fn, dev) if val_loader is not None else (math.nan,) * 2
            bar.set_postfix(loss=f"{train_loss:.4f}", acc=f"{train_acc:.3f}", val_loss=f"{val_loss:.4f}",
                            val_acc=f"{val_acc:.3f}")
        if scheduler is not None and scheduler_step == "epoch":
            if plateau:
                scheduler.step(val_loss)
            else:
                scheduler.step()
        history.add_epoch(train_loss, train_acc, val_loss, val_acc, time.perf_counter() - start, lr)
    return history


@torch.no_grad()
def predict(model, loader, device=None) -> tuple[np.ndarray, np.ndarray]:
    """Predicted classes and true labels for every sample of ``loader``, as int64 NumPy arrays ``(preds, labels)``.

    Runs in eval mode (the model's previous mode is restored); the prediction is
    ``logits.argmax(dim=1)``.
    """
    dev = _model_device(model) if device is None else torch.device(device)
    was_training = model.training
    model.eval()
    preds, labels = [], []
    try:
        for x, y in loader:
            preds.append(model(x.to(dev)).argmax(dim=1).cpu())
            labels.append(y.cpu())
    finally:
        model.train(was_training)
    if not preds:
        raise ValueError("the loader yielded no batches")
    return torch.cat(preds).numpy().astype(np.int64), torch.cat(labels).numpy().astype(np.int64)
