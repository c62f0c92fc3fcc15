"""Per-image intensity normalization of microscopy images (NumPy only): grey, dark background, stretched.

The DSB2018 nuclei come from several microscopes: most are fluorescence images (bright nuclei on a dark
background), some are bright-field / stained images (dark nuclei on a bright background), at very
different brightness and contrast. Putting every image on one scale before a network sees it removes
that nuisance variation:

* :func:`to_grey` averages the colour channels;
* :func:`invert_bright_background` flips ``g -> 1 - g`` for images whose median grey level (the
  background, since nuclei are a minority of pixels) is above one half, so nuclei are always brighter;
* :func:`percentile_stretch` maps each image's ``low``-th and ``high``-th percentiles to 0 and 1 (clipped);
* :func:`normalize_nuclei_images` does the three in that order.
"""

from __future__ import annotations

import numpy as np

from helpers.checks import number

__all__ = ["to_grey", "invert_bright_background", "percentile_stretch", "normalize_nuclei_images"]


def _images(x, name="x") -> np.ndarray:
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"{name} must be images (N, H, W) or (N, H, W, C); got shape {x.shape}")
    return x


def to_grey(x) -> np.ndarray:
    """Images (N, H, W, C) (uint8 in [0, 255] or floats in [0, 1]) or (N, H, W) -> float32 (N, H, W) in [0, 1].

    uint8 input is divided by 255; the grey level is the mean of the channels.
    """
    x = _images(x)
    g = x.astype(np.float32)
    if x.dtype == np.uint8:
        g /= 255.0
    return g.mean(-1) if g.ndim == 4 else g


def invert_bright_background(grey, threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """``(images, inverted)``: grey images (N, H, W) in [0, 1], with ``1 - g`` where the median exceeds ``threshold``.

    ``inverted`` is the boolean (N,) array of the images that were flipped (bright-field images, whose
    background is bright and whose nuclei are dark); afterwards nuclei are brighter than background everywhere.
    """
    g = _images(grey, "grey")
    if g.ndim != 3:
        raise ValueError(f"grey must be (N, H, W); got shape {g.shape}")
    threshold = number(threshold, "threshold", low=0.0, high=1.0)
    inverted = np.median(g.reshape(len(g), -1), axis=1) > threshold
    out = g.astype(np.float32, copy=True)
    out[inverted] = 1.0 - out[inverted]
    return out, inverted


def percentile_stretch(grey, low: float = 1.0, high: float = 99.0) -> np.ndarray:
    """Map each image's ``low``-th percentile to 0 and ``high``-th to 1, clipping outside: float32 (N, H, W).

    An image whose two percentiles coincide (a flat image) becomes all zeros.
    """
    g = _images(grey, "grey")
    if g.ndim != 3:
        raise ValueError(f"grey must be (N, H, W); got shape {g.shape}")
    low = number(low, "low", low=0.0, high=100.0)
    high = number(high, "high", low=0.0, high=100.0)
    if not low < high:
        raise ValueError(f"low must be below high; got low={low}, high={high}")
    lo, hi = np.percentile(g.reshape(len(g), -1), [low, high], axis=1)
    span = (hi - lo)[:, None, None]
    out = (g - lo[:, None, None]) / np.where(span > 0, span, 1.0)
    out[np.broadcast_to(span <= 0, out.shape)] = 0.0
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def normalize_nuclei_images(x, low: float = 1.0, high: float = 99.0) -> np.ndarray:
    """Grey, nuclei bright on dark, percentile-stretched: images (N, H, W[, C]) -> float32 (N, H, W) in [0, 1].

    :func:`to_grey`, then :func:`invert_bright_background`, then :func:`percentile_stretch` (``low``, ``high``).
    """
    grey, _ = invert_bright_background(to_grey(x))
    return percentile_stretch(grey, low, high)
