"""PyTorch data pipeline for image classification: a Dataset over arrays, normalization, augmentation, loaders.

:func:`image_loaders` splits the training images into a training and a validation
part (seeded), normalizes every channel with the statistics of the *training part
only*, and augments the training part only; :func:`cifar10_loaders` does this for
CIFAR-10.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from helpers.checks import integer, number
from helpers.data.splits import split_indices

__all__ = ["ImageDataset", "channel_stats", "image_transform", "random_shift", "image_loaders", "cifar10_loaders"]



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


def random_shift(x: torch.Tensor, max_shift: int = 2, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift-augment a batch: each image ``(C, H, W)`` of ``x`` moves by its own random offset (<= ``max_shift`` px).

    The offsets (vertical and horizontal, each uniform in ``[-max_shift, max_shift]``) come from
    ``generator`` (PyTorch's global generator if ``None``). Pixels that come in from outside are copies
    of the nearest border pixel, so a digit's background stays background whatever the normalization.
    Returns a new tensor of the same shape and dtype.
    """
    max_shift = integer(max_shift, "max_shift", minimum=0)
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"x must be a batch of images, a tensor of shape (N, C, H, W); got {getattr(x, 'shape', x)!r}")
    if max_shift == 0 or len(x) == 0:
        return x.clone()
    padded = F.pad(x, [max_shift] * 4, mode="replicate")
    offsets = torch.randint(0, 2 * max_shift + 1, (len(x), 2), generator=generator).tolist()
    h, w = x.shape[2:]
    return torch.stack([p[:, i:i + h, j:j + w] for p, (i, j) in zip(padded, offsets, strict=True)])


def _check_loader_args(batch_size, val_fraction, augment, seed, subset, num_workers):
    for name, value, minimum in (("batch_size", batch_size, 1), ("seed", seed, 0), ("num_workers", num_workers, 0)):
        integer(value, name, minimum=minimum)
    number(val_fraction, "val_fraction", low=0, high=1, low_open=True, high_open=True)
    if not isinstance(augment, (bool, np.bool_)):
        raise ValueError(f"augment must be True or False; got {augment!r}")
    if subset is not None:
        try:
            integer(subset, "subset", minimum=2)
        except ValueError:
            raise ValueError(f"subset must be None or an int >= 2 (the number of training images to use); "
                             f"got {subset!r}") from None


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
