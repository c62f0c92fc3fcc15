"""Separating an image's coarse layout from its fine detail: Gaussian low- and high-pass, hybrids, patch shuffling.

A Gaussian low-pass with standard deviation ``sigma`` (pixels) keeps the coarse layout of an image (its global
shape); the high-pass ``x - low_pass(x)`` keeps edges and fine texture. A *hybrid image* (Oliva, Torralba and
Schyns, 2006) adds the low-pass of one image to the high-pass of another, a cue-conflict stimulus: its coarse
shape says one class, its detail another. :func:`patch_shuffle` does the opposite cut: it keeps every local patch
(texture) and destroys the global arrangement. The blur is separable and uses the boundary mode ``"reflect"`` of
``scipy.ndimage.gaussian_filter`` (``d c b a | a b c d``) with its default truncation at 4 sigma.
"""

from __future__ import annotations

import numpy as np

from helpers.checks import as_generator, number, positive_int

__all__ = ["gaussian_kernel", "blur_matrix", "low_pass", "high_pass", "hybrid_image", "patch_shuffle"]


def gaussian_kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Normalized 1-D Gaussian weights of length ``2 r + 1``, ``r = int(truncate * sigma + 0.5)`` (scipy's rule)."""
    sigma = number(sigma, "sigma", low=0.0)
    truncate = number(truncate, "truncate", low=0.0, low_open=True)
    r = int(truncate * sigma + 0.5)
    if sigma == 0 or r == 0:
        return np.ones(1)
    t = np.arange(-r, r + 1, dtype=np.float64)
    w = np.exp(-0.5 * (t / sigma) ** 2)
    return w / w.sum()


def blur_matrix(n: int, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """The ``(n, n)`` matrix that blurs a length-``n`` signal with :func:`gaussian_kernel` and reflect boundaries.

    Row ``i`` holds the weights of output ``i``; indices beyond the ends are mirrored (``-1 -> 0``,
    ``n -> n - 1``), repeatedly when the kernel is longer than the signal.
    """
    n = positive_int(n, "n")
    w = gaussian_kernel(sigma, truncate)
    r = len(w) // 2
    m = np.zeros((n, n))
    rows = np.arange(n)
    for k, wk in enumerate(w):
        j = np.mod(rows + k - r, 2 * n)
        j = np.where(j >= n, 2 * n - 1 - j, j)
        np.add.at(m, (rows, j), wk)
    return m


def _axes(x, axes):
    a = tuple(int(v) % x.ndim for v in axes) if x.ndim >= 2 else None
    if a is None or len(a) != 2 or a[0] == a[1]:
        raise ValueError(f"axes must name two different axes of the {x.ndim}-D input (the image rows and columns); "
                         f"got {axes}")
    return a


def low_pass(images, sigma: float, axes=(-3, -2), truncate: float = 4.0) -> np.ndarray:
    """Gaussian blur of ``images`` along the two spatial ``axes`` (default ``(-3, -2)``: ``(..., H, W, C)``).

    Use ``axes=(-2, -1)`` for grey images ``(..., H, W)``. Returns float32 for float32 or integer input (uint8
    pixels stay on their 0-255 scale), float64 for float64; ``sigma = 0`` returns the input unchanged as float.
    """
    x = np.asarray(images)
    if not (np.issubdtype(x.dtype, np.number) and not np.iscomplexobj(x)):
        raise ValueError(f"images must be a real numeric array; got dtype {x.dtype}")
    ah, aw = _axes(x, axes)
    dtype = np.float64 if x.dtype == np.float64 else np.float32
    x = x.astype(dtype, copy=False)
    mh = blur_matrix(x.shape[ah], sigma, truncate).astype(dtype)
    mw = blur_matrix(x.shape[aw], sigma, truncate).astype(dtype)
    x = np.moveaxis(x, (ah, aw), (-2, -1))
    out = mh @ x @ mw.T
    return np.ascontiguousarray(np.moveaxis(out, (-2, -1), (ah, aw)))


def high_pass(images, sigma: float, axes=(-3, -2), truncate: float = 4.0) -> np.ndarray:
    """``images - low_pass(images, sigma)``: the detail finer than ``sigma`` (zero mean over smooth regions)."""
    x = np.asarray(images)
    low = low_pass(x, sigma, axes, truncate)
    return x.astype(low.dtype) - low


def hybrid_image(shape_images, texture_images, sigma: float, axes=(-3, -2), truncate: float = 4.0) -> np.ndarray:
    """``low_pass(shape_images) + high_pass(texture_images)`` with the same cut-off ``sigma`` (not clipped).

    The two inputs must have the same shape. With ``sigma = 0`` the result is ``shape_images`` (nothing is
    blurred away, and the high-pass of the second image is zero); as ``sigma`` grows, the first image keeps only
    its coarser layout and more of the second image's detail is added.
    """
    a, b = np.asarray(shape_images), np.asarray(texture_images)
    if a.shape != b.shape:
        raise ValueError(f"shape_images and texture_images must have the same shape; got {a.shape} and {b.shape}")
    return low_pass(a, sigma, axes, truncate) + high_pass(b, sigma, axes, truncate)


def patch_shuffle(images, grid: int, seed=0) -> np.ndarray:
    """Cut each image of ``(N, H, W, ...)`` into ``grid x grid`` patches and put them back in a random order.

    ``H`` and ``W`` must be divisible by ``grid``; every image gets its own permutation (seeded). The patches
    (local texture) are kept exactly; their arrangement (global shape) is destroyed. ``grid = 1`` returns a copy.
    """
    x = np.asarray(images)
    grid = positive_int(grid, "grid")
    if x.ndim < 3 or x.shape[1] % grid or x.shape[2] % grid:
        raise ValueError(f"images must be (N, H, W, ...) with H and W divisible by grid={grid}; got {x.shape}")
    n, h, w = x.shape[:3]
    ph, pw = h // grid, w // grid
    rest = x.shape[3:]
    patches = x.reshape(n, grid, ph, grid, pw, *rest).swapaxes(2, 3).reshape(n, grid * grid, ph, pw, *rest)
    gen = as_generator(seed)
    order = np.stack([gen.permutation(grid * grid) for _ in range(n)])
    shuffled = np.take_along_axis(patches, order.reshape(n, grid * grid, *([1] * (patches.ndim - 2))), axis=1)
    return shuffled.reshape(n, grid, grid, ph, pw, *rest).swapaxes(2, 3).reshape(x.shape).copy()
