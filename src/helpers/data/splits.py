"""Seeded ways to cut a dataset into parts: train/validation, a few labels per class, DSB2018's three splits.

Each returns index arrays (int64) and is reproducible from its ``seed``.
"""

from __future__ import annotations

import numpy as np

from helpers.checks import integer, number, positive_int

__all__ = ["split_indices", "few_shot_indices", "dsb2018_split"]


def few_shot_indices(labels, per_class: int, seed: int = 0) -> np.ndarray:
    """Indices of ``per_class`` examples of every class of ``labels``, drawn without replacement with ``seed``."""
    labels = np.asarray(labels)
    per_class = positive_int(per_class, "per_class")
    rng = np.random.default_rng(seed)
    picked = []
    for c in np.unique(labels):
        pool = np.flatnonzero(labels == c)
        if len(pool) < per_class:
            raise ValueError(f"class {c} has only {len(pool)} examples, fewer than per_class={per_class}")
        picked.append(rng.choice(pool, per_class, replace=False))
    return np.sort(np.concatenate(picked))


def split_indices(n: int, val_fraction: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of ``range(n)`` into sorted ``(train_indices, val_indices)``.

    The validation part holds ``round(n * val_fraction)`` indices; both parts are
    non-empty and disjoint, and together they are ``range(n)``.
    """
    n = integer(n, "n (the number of samples to split into training and validation parts)", minimum=2)
    number(val_fraction, "val_fraction", low=0, high=1, low_open=True, high_open=True)
    n_val = int(round(n * val_fraction))
    if not 1 <= n_val <= n - 1:
        raise ValueError(f"val_fraction={val_fraction} of {n} samples leaves an empty training or validation part")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def dsb2018_split(n: int = 664, fractions=(0.7, 0.15, 0.15), seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded split of ``range(n)`` into sorted ``{'train', 'val', 'test'}`` index arrays.

    DSB2018 has no official labelled test set, so the book draws one: a permutation from
    ``np.random.default_rng(seed)``, the first ``round(n*fractions[0])`` indices for training, the next
    ``round(n*fractions[1])`` for validation (model/epoch/threshold choice), the rest for the test
    (touched only to report). Defaults give 465 / 100 / 99 images of the 664.
    """
    n = integer(n, "n", minimum=3)
    f = np.asarray(fractions, dtype=float)
    if f.shape != (3,) or (f <= 0).any() or abs(f.sum() - 1) > 1e-9:
        raise ValueError(f"fractions must be three positive numbers summing to 1; got {fractions!r}")
    n_train, n_val = int(round(n * f[0])), int(round(n * f[1]))
    if n_train < 1 or n_val < 1 or n - n_train - n_val < 1:
        raise ValueError(f"fractions {fractions!r} of {n} items leave an empty part")
    order = np.random.default_rng(seed).permutation(n)
    return {"train": np.sort(order[:n_train]), "val": np.sort(order[n_train:n_train + n_val]),
            "test": np.sort(order[n_train + n_val:])}
