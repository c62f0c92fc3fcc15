"""Data augmentation for NumPy image batches: small random shifts, vectorized (no Python loop over images).

Images are ``(N, C, H, W)`` arrays as everywhere in :mod:`helpers.numpy`. The
functions here are the NumPy twins of :func:`helpers.torch.loaders.random_shift`:
pixels that come in from outside the image are copies of the nearest border pixel
(``mode="edge"`` padding), so a digit's background stays background whatever the
normalization.

* :func:`shift_images` moves every image by its own given offset;
* :func:`random_shift` draws those offsets uniformly in ``[-max_shift, max_shift]``.
"""

from __future__ import annotations

import numpy as np

from helpers.checks import as_generator, integer

__all__ = ["shift_images", "random_shift"]


def _check_batch(x) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must be a batch of images of shape (N, C, H, W); got shape {x.shape}")
    return x


def shift_images(x, offsets, max_shift: int | None = None) -> np.ndarray:
    """Move image ``n`` of ``x`` down by ``offsets[n, 0]`` and right by ``offsets[n, 1]`` pixels.

    ``x`` is ``(N, C, H, W)``; ``offsets`` is an integer array ``(N, 2)`` with entries in
    ``[-max_shift, max_shift]`` (``max_shift`` defaults to the largest absolute offset).
    Negative offsets move up / left. Uncovered pixels repeat the nearest border pixel.
    Returns a new array of the same shape and dtype: ``out[n, :, i, j] = x[n, :, clip(i - dy),
    clip(j - dx)]``.
    """
    x = _check_batch(x)
    offsets = np.asarray(offsets)
    if offsets.shape != (len(x), 2) or not np.issubdtype(offsets.dtype, np.integer):
        raise ValueError(f"offsets must be an integer array of shape ({len(x)}, 2), one (dy, dx) per image; "
                         f"got {offsets.dtype} {offsets.shape}")
    largest = int(np.abs(offsets).max()) if offsets.size else 0
    m = largest if max_shift is None else integer(max_shift, "max_shift", minimum=0)
    if largest > m:
        raise ValueError(f"offsets must lie in [-{m}, {m}] (max_shift={m}); got an offset of {largest}")
    if len(x) == 0 or m == 0:
        return x.copy()
    h, w = x.shape[2:]
    padded = np.pad(x, ((0, 0), (0, 0), (m, m), (m, m)), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (h, w), axis=(2, 3))  # (N, C, 2m+1, 2m+1, H, W)
    # shifting down by dy reads the window that starts dy rows *above* the original one: index m - dy
    rows, cols = m - offsets[:, 0], m - offsets[:, 1]
    return windows[np.arange(len(x)), :, rows, cols]


def random_shift(x, max_shift: int = 2, rng=None) -> np.ndarray:
    """Shift-augment a batch: every image ``(C, H, W)`` of ``x`` moves by its own random offset.

    The vertical and horizontal offsets are each uniform in ``[-max_shift, max_shift]``,
    drawn from ``rng`` (an int seed or a ``numpy.random.Generator``; ``None``: fresh
    entropy). Returns a new array of the same shape and dtype (see :func:`shift_images`).
    """
    x = _check_batch(x)
    max_shift = integer(max_shift, "max_shift", minimum=0)
    rng = as_generator(rng)
    offsets = rng.integers(-max_shift, max_shift + 1, size=(len(x), 2))
    return shift_images(x, offsets, max_shift)
