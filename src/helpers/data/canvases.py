"""A detection dataset made of real MNIST digits pasted on larger blank canvases, with their boxes (NumPy only).

:func:`make_canvases` draws 1 to ``max_digits`` digits from an image array (e.g. ``load_mnist("train").x``),
rescales each one with bilinear interpolation to a random size, pastes it at a random position (pixel-wise
maximum, so overlapping strokes stay visible) and records the tight box of its ink in pixel-edge coordinates
``(x1, y1, x2, y2)``: a digit whose ink covers columns 3..10 has ``x1 = 3, x2 = 11``. Placements whose box
overlaps an earlier box by more than ``max_overlap`` (IoU) are redrawn. :func:`resize_bilinear` is the
resizing step on its own.
"""

from __future__ import annotations

import numpy as np

from helpers.checks import as_generator, integer, number, positive_int

__all__ = ["resize_bilinear", "make_canvases", "DigitCanvases"]


def _interp_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) matrix of bilinear weights (pixel centres aligned, as ``align_corners=False``)."""
    centres = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    centres = np.clip(centres, 0, n_in - 1)
    lo = np.floor(centres).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = centres - lo
    m = np.zeros((n_out, n_in))
    m[np.arange(n_out), lo] += 1 - frac
    m[np.arange(n_out), hi] += frac
    return m


def resize_bilinear(image, size) -> np.ndarray:
    """A 2-D ``image`` resized to ``size = (h, w)`` (or an int for a square) by bilinear interpolation, float64."""
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D (H, W); got shape {image.shape}")
    h, w = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    h, w = positive_int(h, "height"), positive_int(w, "width")
    return _interp_matrix(h, image.shape[0]) @ image.astype(np.float64) @ _interp_matrix(w, image.shape[1]).T


class DigitCanvases:
    """Canvases ``x`` (N, H, W) uint8, and per canvas ``boxes[i]`` (k, 4) float32 and ``labels[i]`` (k,) int64.

    ``sources[i]`` holds the indices of the digits used (into the image array given to :func:`make_canvases`).
    ``targets()`` gives the list of ``{"boxes", "labels"}`` dicts that detection metrics take.
    """

    def __init__(self, x, boxes, labels, sources):
        self.x, self.boxes, self.labels, self.sources = x, boxes, labels, sources

    def __len__(self) -> int:
        return len(self.x)

    def __repr__(self) -> str:
        n = sum(len(b) for b in self.boxes)
        return f"DigitCanvases({len(self)} canvases of {self.x.shape[1]}x{self.x.shape[2]}, {n} digits)"

    def targets(self, indices=None) -> list[dict]:
        """``[{"boxes": (k, 4), "labels": (k,)}, ...]`` for all canvases (or the given ``indices``)."""
        idx = range(len(self)) if indices is None else indices
        return [{"boxes": self.boxes[i], "labels": self.labels[i]} for i in idx]


def _box_iou_one(box, others) -> np.ndarray:
    if len(others) == 0:
        return np.zeros(0)
    others = np.asarray(others)
    iw = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    ih = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    inter = iw * ih
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / (area(box) + area(others) - inter)


def make_canvases(images, labels, n: int, size: int = 64, max_digits: int = 4, scale=(16, 36),
                  max_overlap: float = 0.2, ink_threshold: int = 32, seed=0) -> DigitCanvases:
    """``n`` canvases of ``size`` x ``size`` pixels, each with 1..``max_digits`` digits drawn from ``images``.

    ``images`` (M, 28, 28) uint8 and ``labels`` (M,) are a digit dataset (e.g. MNIST train for training canvases,
    MNIST test for test canvases). Each digit is resized to a random square side in ``scale = (lo, hi)`` pixels
    (uniform integers), pasted at a uniform random position fully inside the canvas, and its box is the tight box
    of the pixels >= ``ink_threshold`` after resizing. A placement overlapping an earlier digit's box with IoU above
    ``max_overlap`` is redrawn (up to 20 times, then that digit is skipped). Seeded and deterministic.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be a uint8 array (M, H, W); got {images.dtype} {images.shape}")
    if labels.shape != (len(images),):
        raise ValueError(f"labels must have shape ({len(images)},); got {labels.shape}")
    n = positive_int(n, "n")
    size = positive_int(size, "size")
    max_digits = positive_int(max_digits, "max_digits")
    lo, hi = (integer(s, "scale", minimum=4) for s in scale)
    if hi < lo or hi > size:
        raise ValueError(f"scale must be (lo, hi) with 4 <= lo <= hi <= size={size}; got {scale!r}")
    max_overlap = number(max_overlap, "max_overlap", low=0.0, high=1.0)
    ink_threshold = integer(ink_threshold, "ink_threshold", minimum=1, maximum=255)
    gen = as_generator(seed)
    cache: dict[int, np.ndarray] = {}
    x = np.zeros((n, size, size), np.uint8)
    all_boxes, all_labels, all_sources = [], [], []
    for i in range(n):
        boxes, labs, srcs = [], [], []
        for _ in range(int(gen.integers(1, max_digits + 1))):
            j = int(gen.integers(len(images)))
            for _attempt in range(20):
                side = int(gen.integers(lo, hi + 1))
                top, left = (int(v) for v in gen.integers(0, size - side + 1, 2))
                if side not in cache:
                    cache[side] = _interp_matrix(side, images.shape[1])
                patch = cache[side] @ images[j].astype(np.float64) @ cache[side].T
                patch = np.clip(np.rint(patch), 0, 255).astype(np.uint8)
                rows, cols = np.nonzero(patch >= ink_threshold)
                if len(rows) == 0:
                    break
                box = np.array([left + cols.min(), top + rows.min(), left + cols.max() + 1, top + rows.max() + 1],
                               np.float64)
                if len(boxes) and _box_iou_one(box, boxes).max() > max_overlap:
                    continue
                region = x[i, top:top + side, left:left + side]
                np.maximum(region, patch, out=region)
                boxes.append(box)
                labs.append(int(labels[j]))
                srcs.append(j)
                break
        all_boxes.append(np.array(boxes, np.float32).reshape(-1, 4))
        all_labels.append(np.array(labs, np.int64))
        all_sources.append(np.array(srcs, np.int64))
    return DigitCanvases(x, all_boxes, all_labels, all_sources)
