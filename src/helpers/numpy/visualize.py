"""What a CNN learned: filters, feature maps, Grad-CAM and occlusion (NumPy side of the visualization tools).

* Filters: :func:`filters_to_images` scales weights for ``imshow``;
  :func:`neighbour_correlation` and :func:`channel_correlation` measure how smooth and
  how colour-coordinated they are (trained first layers score high, random ones near 0).
* Feature maps: ``record_activations`` (in :mod:`helpers.torch.visualize`) runs a PyTorch
  model once with forward hooks.
* Grad-CAM (Selvaraju et al. 2017): :func:`grad_cam_numpy` for the book's NumPy
  ``Sequential`` (its own backward pass) and ``grad_cam`` in :mod:`helpers.torch.visualize`
  for PyTorch (hooks); both combine activations and gradients with :func:`cam_from_activations`
  (or, with ``method="hirescam"``, element-wise as HiResCAM does: :func:`hires_cam_from_activations`);
  :func:`upsample` is bilinear interpolation equal to PyTorch's ``align_corners=False``.
* Evidence that a saliency map points at the object: :func:`occlusion_sensitivity`,
  :func:`deletion_scores` and :func:`map_correlation`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from helpers.checks import integer, positive_int

__all__ = ["filters_to_images", "neighbour_correlation", "channel_correlation", "class_array", "cam_from_activations",
           "hires_cam_from_activations", "cam_maps", "grad_cam_numpy", "upsample", "occlusion_sensitivity",
           "deletion_scores", "map_correlation"]


# --------------------------------------------------------------------------------------------------- filters

def _filters(weights) -> np.ndarray:
    w = weights.detach().cpu().numpy() if hasattr(weights, "detach") else np.asarray(weights)
    if w.ndim != 4:
        raise ValueError(f"filters must have shape (out_channels, in_channels, kh, kw); got {w.shape}")
    if w.shape[2] < 2 or w.shape[3] < 2:
        raise ValueError(f"filters must be at least 2x2 to measure or show structure; got {w.shape[2:]}")
    return w.astype(np.float64)


def filters_to_images(weights) -> np.ndarray:
    """Filters ``(F, C, kh, kw)`` as images for ``imshow``, each scaled on its own so that 0 is mid-grey.

    Every filter is divided by twice its largest absolute weight and shifted by 0.5, so
    values lie in ``[0, 1]`` and the sign is kept (dark: negative, bright: positive).
    Returns ``(F, kh, kw, 3)`` for RGB filters (``C == 3``) and ``(F, kh, kw)`` for
    ``C == 1``. Accepts a NumPy array or a torch tensor.
    """
    w = _filters(weights)
    if w.shape[1] not in (1, 3):
        raise ValueError(f"can show filters with 1 or 3 input channels; got {w.shape[1]}")
    scale = np.abs(w).reshape(len(w), -1).max(axis=1)
    scale = np.where(scale > 0, scale, 1.0)[:, None, None, None]
    images = 0.5 + 0.5 * w / scale
    return images[:, 0] if w.shape[1] == 1 else images.transpose(0, 2, 3, 1)


def neighbour_correlation(weights) -> float:
    """Pearson correlation between horizontally and vertically adjacent taps of all filters.

    A smoothness measure: near 0 for independent random weights, positive when
    neighbouring taps tend to share their sign (blobs, smooth edges). Pools all filters
    and input channels of ``weights`` ``(F, C, kh, kw)``.
    """
    w = _filters(weights)
    a = np.concatenate([w[..., :, :-1].ravel(), w[..., :-1, :].ravel()])
    b = np.concatenate([w[..., :, 1:].ravel(), w[..., 1:, :].ravel()])
    return float(np.corrcoef(a, b)[0, 1])


def channel_correlation(weights) -> np.ndarray:
    """For every filter, the mean Pearson correlation between its input channels' kernels.

    ``weights`` ``(F, C, kh, kw)`` with ``C >= 2``; returns ``(F,)``. For RGB filters
    +1 means the filter sees brightness (the same pattern in every colour), negative
    values mean colour opponency (e.g. red against green), 0 means unrelated channels.
    """
    w = _filters(weights)
    if w.shape[1] < 2:
        raise ValueError(f"channel_correlation needs at least 2 input channels; got {w.shape[1]}")
    flat = w.reshape(w.shape[0], w.shape[1], -1)
    pairs = [(i, j) for i in range(w.shape[1]) for j in range(i + 1, w.shape[1])]
    out = np.empty(len(w))
    for f in range(len(w)):
        c = np.corrcoef(flat[f])
        out[f] = np.mean([c[i, j] for i, j in pairs])
    return out


# --------------------------------------------------------------------------------------------------- Grad-CAM

def class_array(classes, n: int) -> np.ndarray:
    """One class index per image as an int64 array ``(n,)``: ``classes`` is one int (for every image) or ``n`` ints.

    Raises ``ValueError`` for anything else (floats, a wrong length). The range is
    checked by the caller, who knows the number of classes.
    """
    c = np.asarray(classes)
    if c.ndim == 0:
        c = np.full(n, int(c))
    if c.shape != (n,) or not np.issubdtype(c.dtype, np.integer):
        raise ValueError(f"classes must be one int or {n} ints (one per image); got {classes!r}")
    return c.astype(np.int64)


def cam_from_activations(acts: np.ndarray, grads: np.ndarray) -> np.ndarray:
    """Grad-CAM maps ``(N, h, w)`` from a layer's activations and the class score's gradients there.

    ``acts`` and ``grads`` are ``(N, C, h, w)``. Each channel is weighted by its
    spatially averaged gradient (how much the class score rises when the whole
    map rises), and the map is ``ReLU(sum_k weight_k * A_k)``: only evidence *for*
    the class is kept.
    """
    weights = grads.mean(axis=(2, 3))                                  # (N, C): spatially averaged gradients
    return np.maximum((weights[:, :, None, None] * acts).sum(axis=1), 0.0)


def hires_cam_from_activations(acts: np.ndarray, grads: np.ndarray) -> np.ndarray:
    """HiResCAM maps ``(N, h, w)`` (Draelos and Carin 2020): ``ReLU(sum_k grad_k * A_k)``, element by element.

    Grad-CAM first averages each gradient map over space, which is exact only when the
    network pools the maps globally before a linear layer (then both methods give the same
    map). After ``Flatten`` and a dense layer every position has its own weight, and the
    average throws that away; HiResCAM keeps it.
    """
    return np.maximum((grads * acts).sum(axis=1), 0.0)


CAM_METHODS = {"grad-cam": cam_from_activations, "hirescam": hires_cam_from_activations}


def cam_maps(acts, grads, method: str = "grad-cam") -> np.ndarray:
    """Combine activations and class-score gradients ``(N, C, h, w)`` into maps by ``method``."""
    if method not in CAM_METHODS:
        raise ValueError(f"method must be one of {sorted(CAM_METHODS)}; got {method!r}")
    acts, grads = np.asarray(acts, np.float64), np.asarray(grads, np.float64)
    if acts.ndim != 4 or acts.shape != grads.shape:
        raise ValueError(f"activations and gradients must both be (N, C, h, w); got {acts.shape} and {grads.shape}")
    return CAM_METHODS[method](acts, grads)


def grad_cam_numpy(network, x, classes, layer: int, method: str = "grad-cam") -> np.ndarray:
    """Grad-CAM maps ``(N, h, w)`` of a :class:`helpers.numpy.network.Sequential` at the output of layer ``layer``.

    Forward pass layer by layer (keeping layer ``layer``'s output ``A``), then the
    network's own backward pass from ``d score_c / d logits`` (one-hot: the class score,
    not the loss) down to ``A``. Channel weights are the spatially averaged gradients;
    the map is ``ReLU(sum_k weight_k * A_k)`` at the resolution of ``A`` (see :func:`upsample`).
    ``x`` is the network's input ``(N, C, H, W)``; ``classes`` one int or one per image.
    ``method="hirescam"`` multiplies gradients and activations element-wise instead.
    """
    if method not in CAM_METHODS:
        raise ValueError(f"method must be one of {sorted(CAM_METHODS)}; got {method!r}")
    n_layers = len(network.layers)
    if n_layers < 2:
        raise ValueError("Grad-CAM needs a network of at least 2 layers (a layer to look at, then the rest)")
    layer = integer(layer, "layer", minimum=0, maximum=n_layers - 2)
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, C, H, W); got {x.shape}")
    out = x
    acts = None
    for i, lay in enumerate(network.layers):
        out = lay.forward(out, True)
        if i == layer:
            acts = out
    if acts.ndim != 4:
        raise ValueError(f"layer {layer} outputs shape {acts.shape}; Grad-CAM needs feature maps (N, C, h, w)")
    c = class_array(classes, len(x))
    if c.min() < 0 or c.max() >= out.shape[1]:
        raise ValueError(f"classes must lie in [0, {out.shape[1] - 1}]; got {c}")
    dout = np.zeros_like(out)
    dout[np.arange(len(x)), c] = 1.0
    for lay in reversed(network.layers[layer + 1:]):
        dout = lay.backward(dout)
    return cam_maps(acts, dout, method)


def upsample(maps, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of ``(N, h, w)`` maps to ``size = (H, W)``, equal to
    ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``."""
    m = np.asarray(maps, dtype=np.float64)
    if m.ndim != 3:
        raise ValueError(f"maps must have shape (N, h, w); got {m.shape}")
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"size must be (H, W) with positive ints; got {size!r}")

    def axis(n_in, n_out):
        src = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
        i0 = np.minimum(np.floor(src).astype(int), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, src - i0

    r0, r1, fr = axis(m.shape[1], int(size[0]))
    c0, c1, fc = axis(m.shape[2], int(size[1]))
    rows = m[:, r0] * (1 - fr)[None, :, None] + m[:, r1] * fr[None, :, None]
    return rows[:, :, c0] * (1 - fc)[None, None, :] + rows[:, :, c1] * fc[None, None, :]


# --------------------------------------------------------------------------------------------------- evidence

def _fill(fill, channels: int) -> np.ndarray:
    f = np.asarray(fill, dtype=np.float64).reshape(-1)
    if f.size not in (1, channels):
        raise ValueError(f"fill must be one value or one per channel ({channels}); got {fill!r}")
    return f.reshape(-1, 1, 1) if f.size == channels else f.reshape(1, 1, 1)


def occlusion_sensitivity(predict: Callable[[np.ndarray], np.ndarray], x, labels, patch: int = 8,
                          stride: int = 4, fill=0.5) -> np.ndarray:
    """Per-pixel drop of the label's probability when a square patch of ``fill`` covers it (Zeiler & Fergus 2014).

    ``predict`` maps images ``(B, C, H, W)`` to class probabilities ``(B, K)``. Every
    position of a ``patch`` x ``patch`` square on a grid of step ``stride`` is tried;
    a pixel's value is the mean drop ``p(label | x) - p(label | occluded x)`` over the
    patches that cover it. Returns ``(N, H, W)``; large values mark the evidence.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, C, H, W); got {x.shape}")
    n, ch, h, w = x.shape
    patch, stride = positive_int(patch, "patch"), positive_int(stride, "stride")
    if patch > min(h, w):
        raise ValueError(f"patch {patch} is larger than the image ({h}x{w})")
    y = class_array(labels, n)
    fill_v = _fill(fill, ch)
    tops = list(range(0, h - patch + 1, stride))
    lefts = list(range(0, w - patch + 1, stride))
    out = np.zeros((n, h, w))
    for k in range(n):
        batch = np.repeat(x[k:k + 1], len(tops) * len(lefts) + 1, axis=0)
        spots = [(t, le) for t in tops for le in lefts]
        for b, (t, le) in enumerate(spots, start=1):
            batch[b, :, t:t + patch, le:le + patch] = fill_v
        p = np.asarray(predict(batch))[:, y[k]]
        total, count = np.zeros((h, w)), np.zeros((h, w))
        for b, (t, le) in enumerate(spots, start=1):
            total[t:t + patch, le:le + patch] += p[0] - p[b]
            count[t:t + patch, le:le + patch] += 1
        out[k] = total / np.maximum(count, 1)
    return out


def deletion_scores(predict: Callable[[np.ndarray], np.ndarray], x, labels, saliency, fraction: float,
                    fill=0.5, seed: int = 0, block: int = 1) -> dict[str, np.ndarray]:
    """The label's probability after deleting (setting to ``fill``) the most salient pixels, or random ones.

    ``saliency`` ``(N, H, W)`` ranks the pixels of each image; the top ``fraction`` of
    them (all channels) are deleted, and, as the control, the same number of pixels
    drawn at random (seeded). With ``block > 1`` the image is cut into ``block`` x
    ``block`` squares (``H`` and ``W`` must be multiples), ranked by their mean saliency,
    and whole squares are deleted, so that the control deletes regions of the same shape
    (scattered single grey pixels are a different, noise-like change). Returns
    ``{"clean", "top", "random"}``, each ``(N,)``.
    """
    x = np.asarray(x, dtype=np.float64)
    s = np.asarray(saliency, dtype=np.float64)
    if x.ndim != 4 or s.shape != (x.shape[0], x.shape[2], x.shape[3]):
        raise ValueError(f"need x (N, C, H, W) and saliency (N, H, W) of the same N, H, W; got {x.shape}, {s.shape}")
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1); got {fraction!r}")
    n, ch, h, w = x.shape
    block = positive_int(block, "block")
    if h % block or w % block:
        raise ValueError(f"block must be a positive int dividing the image size {h}x{w}; got {block!r}")
    y = class_array(labels, n)
    fill_v = _fill(fill, ch)[None]
    gh, gw = h // block, w // block
    cells = s.reshape(n, gh, block, gw, block).mean(axis=(2, 4)).reshape(n, -1)
    k = max(1, int(round(fraction * gh * gw)))
    rng = np.random.default_rng(seed)
    top_mask = np.zeros((n, gh * gw), bool)
    rand_mask = np.zeros((n, gh * gw), bool)
    for i in range(n):
        top_mask[i, np.argsort(-cells[i], kind="stable")[:k]] = True
        rand_mask[i, rng.choice(gh * gw, k, replace=False)] = True

    def delete(mask):
        m = mask.reshape(n, gh, 1, gw, 1)
        m = np.broadcast_to(m, (n, gh, block, gw, block)).reshape(n, 1, h, w)
        return np.where(m, fill_v, x)

    rows = np.arange(n)
    return {"clean": np.asarray(predict(x))[rows, y],
            "top": np.asarray(predict(delete(top_mask)))[rows, y],
            "random": np.asarray(predict(delete(rand_mask)))[rows, y]}


def map_correlation(a, b) -> np.ndarray:
    """Pearson correlation between two maps of each image: ``a``, ``b`` ``(N, H, W)`` -> ``(N,)``.

    A constant map has no defined correlation: it gives ``nan``.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"maps must both have shape (N, H, W); got {a.shape}, {b.shape}")
    a = a.reshape(len(a), -1) - a.reshape(len(a), -1).mean(axis=1, keepdims=True)
    b = b.reshape(len(b), -1) - b.reshape(len(b), -1).mean(axis=1, keepdims=True)
    den = np.sqrt((a ** 2).sum(axis=1) * (b ** 2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(axis=1) / np.where(den > 0, den, 1), np.nan)

