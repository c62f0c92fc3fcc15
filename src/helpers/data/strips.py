"""Strips of several MNIST digits side by side: a small sequence-reading task with exact labels.

:func:`make_digit_strips` places ``k`` digits left to right in a ``28 x 28k`` image, each shifted sideways by a
random few pixels (neighbours may touch or overlap; overlapping ink is combined with a maximum), and returns
the images and the ``(n, k)`` digit labels. Build training strips from training digits and test strips from
test digits, so that no test digit is ever seen in training.
"""

from __future__ import annotations

import numpy as np

from helpers.checks import as_generator, integer, positive_int

__all__ = ["make_digit_strips"]


def make_digit_strips(images, labels, n: int, k: int = 4, jitter: int = 4, seed=0):
    """``(strips, digits)``: ``n`` uint8 images ``(n, 28, 28 k)`` of ``k`` random digits and their labels ``(n, k)``.

    Digits are drawn with replacement from ``images`` (M, 28, 28) / ``labels`` (M,); each is shifted by an
    integer in ``[-jitter, jitter]`` columns (clipped to the strip). Seeded.
    """
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"images must have shape (M, 28, 28); got {images.shape}")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"labels must have shape ({images.shape[0]},), one per image; got {labels.shape}")
    n, k = positive_int(n, "n"), positive_int(k, "k")
    jitter = integer(jitter, "jitter", minimum=0, maximum=13)
    gen = as_generator(seed)
    width = 28 * k
    pick = gen.integers(0, images.shape[0], size=(n, k))
    shift = gen.integers(-jitter, jitter + 1, size=(n, k))
    strips = np.zeros((n, 28, width), dtype=np.uint8)
    for i in range(n):
        for j in range(k):
            x0 = int(np.clip(28 * j + shift[i, j], 0, width - 28))
            np.maximum(strips[i, :, x0:x0 + 28], images[pick[i, j]], out=strips[i, :, x0:x0 + 28])
    return strips, labels[pick].astype(np.int64)
