"""Binary segmentation pieces for the U-Net lesson: concatenation, IoU/Dice, data split, model, loss.

* :func:`concat_forward` / :func:`concat_backward`: the skip connection's channel concatenation in NumPy.
* :func:`iou` / :func:`dice` (per image) and :func:`pixel_iou` / :func:`pixel_dice` (over a whole set).
  **Empty-mask convention:** when prediction and truth are both empty the score is 1.0 (nothing to find,
  nothing found); when only one is empty it is 0.0.
* :func:`dsb2018_split`: a seeded 70/15/15 train/validation/test split of :func:`helpers.data.load_dsb2018`
  (the dataset has no official split).
* :class:`UNet`: a small PyTorch U-Net (conv-BN-ReLU blocks, max-pool down, transposed-conv up) whose skip
  connections can be switched off for the ablation.
* :func:`bce_dice_loss` and :func:`random_dihedral` (flips and 90-degree rotations).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = [
    "concat_forward", "concat_backward", "iou", "dice", "pixel_iou", "pixel_dice",
    "dsb2018_split", "images_to_tensor", "UNet", "bce_dice_loss", "random_dihedral", "predict_probs",
]


# ----------------------------------------------------------------------------- concatenation
def concat_forward(a, b):
    """Concatenate ``a`` (N, Ca, H, W) and ``b`` (N, Cb, H, W) along channels; returns ``(out, cache)``."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 4 or b.ndim != 4:
        raise ValueError(f"concat_forward expects two (N, C, H, W) arrays; got shapes {a.shape} and {b.shape}")
    if a.shape[0] != b.shape[0] or a.shape[2:] != b.shape[2:]:
        raise ValueError(f"batch size and H, W must match to concatenate channels; got {a.shape} and {b.shape}")
    return np.concatenate([a, b], axis=1), a.shape[1]


def concat_backward(dout, cache):
    """Backward of :func:`concat_forward`: split ``dout`` back into ``(da, db)`` along channels."""
    dout = np.asarray(dout)
    ca = cache
    if dout.ndim != 4 or dout.shape[1] <= ca:
        raise ValueError(f"dout must be (N, C, H, W) with more than {ca} channels; got {dout.shape}")
    return dout[:, :ca], dout[:, ca:]


# ----------------------------------------------------------------------------- metrics
def _masks(pred, truth):
    pred, truth = np.asarray(pred), np.asarray(truth)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction and truth must have the same shape; got {pred.shape} and {truth.shape}")
    for name, m in (("prediction", pred), ("truth", truth)):
        if m.dtype != bool and not np.isin(m, (0, 1)).all():
            raise ValueError(f"{name} must be a binary mask (bool or 0/1); threshold probabilities first")
    return pred.astype(bool), truth.astype(bool)


def _ratio(num, den):
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.where(den > 0, num / np.maximum(den, 1), 1.0)  # empty truth and empty prediction -> 1.0


def iou(pred, truth):
    """Intersection over union per image: masks (N, H, W) -> (N,) array ((H, W) -> float).

    Both masks empty -> 1.0 (the empty-mask convention); only one empty -> 0.0.
    """
    pred, truth = _masks(pred, truth)
    axes = tuple(range(pred.ndim - 2, pred.ndim)) if pred.ndim >= 2 else None
    if pred.ndim < 2:
        raise ValueError(f"masks must be (H, W) or (N, H, W); got shape {pred.shape}")
    inter = (pred & truth).sum(axis=axes)
    union = (pred | truth).sum(axis=axes)
    out = _ratio(inter, union)
    return float(out) if out.ndim == 0 else out


def dice(pred, truth):
    """Dice coefficient 2|A∩B| / (|A| + |B|) per image; same shapes and empty-mask convention as :func:`iou`."""
    pred, truth = _masks(pred, truth)
    if pred.ndim < 2:
        raise ValueError(f"masks must be (H, W) or (N, H, W); got shape {pred.shape}")
    axes = (-2, -1)
    out = _ratio(2 * (pred & truth).sum(axis=axes), pred.sum(axis=axes) + truth.sum(axis=axes))
    return float(out) if out.ndim == 0 else out


def pixel_iou(pred, truth) -> float:
    """IoU of the positive class over *all* pixels of the set (one big intersection / one big union)."""
    pred, truth = _masks(pred, truth)
    return float(_ratio((pred & truth).sum(), (pred | truth).sum()))


def pixel_dice(pred, truth) -> float:
    """Dice of the positive class over all pixels of the set."""
    pred, truth = _masks(pred, truth)
    return float(_ratio(2 * (pred & truth).sum(), pred.sum() + truth.sum()))


# ----------------------------------------------------------------------------- data
def dsb2018_split(n: int = 664, fractions=(0.7, 0.15, 0.15), seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded split of ``range(n)`` into sorted ``{'train', 'val', 'test'}`` index arrays.

    DSB2018 has no official labelled test set, so the book draws one: a permutation from
    ``np.random.default_rng(seed)``, the first ``round(n*fractions[0])`` indices for training, the next
    ``round(n*fractions[1])`` for validation (model/epoch/threshold choice), the rest for the test
    (touched only to report). Defaults give 465 / 100 / 99 images of the 664.
    """
    if not isinstance(n, (int, np.integer)) or n < 3:
        raise ValueError(f"n must be an int >= 3; got {n!r}")
    f = np.asarray(fractions, dtype=float)
    if f.shape != (3,) or (f <= 0).any() or abs(f.sum() - 1) > 1e-9:
        raise ValueError(f"fractions must be three positive numbers summing to 1; got {fractions!r}")
    n_train, n_val = int(round(n * f[0])), int(round(n * f[1]))
    if n_train < 1 or n_val < 1 or n - n_train - n_val < 1:
        raise ValueError(f"fractions {fractions!r} of {n} items leave an empty part")
    order = np.random.default_rng(seed).permutation(n)
    return {"train": np.sort(order[:n_train]), "val": np.sort(order[n_train:n_train + n_val]),
            "test": np.sort(order[n_train + n_val:])}


def images_to_tensor(x) -> torch.Tensor:
    """uint8 images (N, H, W, 3) -> float32 tensor (N, 3, H, W) in [0, 1]."""
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[-1] != 3 or x.dtype != np.uint8:
        raise ValueError(f"expected uint8 images of shape (N, H, W, 3); got {x.dtype} {x.shape}")
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).float().div_(255.0)


def random_dihedral(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None):
    """Apply one random flip/90-degree rotation (of the 8) per sample to images ``x`` and masks ``y`` alike.

    ``x`` is (N, C, H, W) and ``y`` (N, 1, H, W) (square images); returns new tensors.
    """
    if x.ndim != 4 or y.ndim != 4 or x.shape[0] != y.shape[0] or x.shape[2:] != y.shape[2:]:
        raise ValueError(f"x and y must be (N, C, H, W) with the same N, H, W; got {tuple(x.shape)}, {tuple(y.shape)}")
    if x.shape[2] != x.shape[3]:
        raise ValueError(f"rotations by 90 degrees need square images; got {tuple(x.shape[2:])}")
    codes = torch.randint(0, 8, (x.shape[0],), generator=generator)
    xs, ys = [], []
    for i, c in enumerate(codes.tolist()):
        xi, yi = x[i], y[i]
        if c >= 4:
            xi, yi = xi.flip(-1), yi.flip(-1)
        xs.append(torch.rot90(xi, c % 4, (-2, -1)))
        ys.append(torch.rot90(yi, c % 4, (-2, -1)))
    return torch.stack(xs), torch.stack(ys)


# ----------------------------------------------------------------------------- model and loss
def _block(cin: int, cout: int, batchnorm: bool) -> nn.Sequential:
    layers = []
    for c in (cin, cout):
        layers += [nn.Conv2d(c, cout, 3, padding=1, bias=not batchnorm)]
        if batchnorm:
            layers += [nn.BatchNorm2d(cout)]
        layers += [nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class UNet(nn.Module):
    """A U-Net for binary masks: returns logits (N, 1, H, W); H and W must be divisible by 2**depth.

    ``width`` channels at the first level, doubled at each of ``depth`` max-pool steps; the decoder
    upsamples with ``ConvTranspose2d(k=2, s=2)`` and, when ``skips`` is True, concatenates the encoder
    feature map of the same resolution before its two 3x3 convolutions. ``skips=False`` is the same
    network minus the concatenations (an encoder-decoder), for the ablation.
    """

    def __init__(self, in_channels: int = 3, width: int = 16, depth: int = 3, skips: bool = True,
                 batchnorm: bool = True):
        super().__init__()
        for name, v in (("in_channels", in_channels), ("width", width), ("depth", depth)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int; got {v!r}")
        self.depth, self.skips = depth, bool(skips)
        ch = [width * 2 ** i for i in range(depth + 1)]
        self.down = nn.ModuleList([_block(in_channels, ch[0], batchnorm)] +
                                  [_block(ch[i], ch[i + 1], batchnorm) for i in range(depth)])
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList([nn.ConvTranspose2d(ch[i + 1], ch[i], 2, stride=2) for i in reversed(range(depth))])
        self.dec = nn.ModuleList([_block(ch[i] * (2 if skips else 1), ch[i], batchnorm)
                                  for i in reversed(range(depth))])
        self.head = nn.Conv2d(ch[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[-1] % 2 ** self.depth or x.shape[-2] % 2 ** self.depth:
            raise ValueError(f"UNet needs (N, C, H, W) with H, W divisible by {2 ** self.depth}; got {tuple(x.shape)}")
        feats = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            feats.append(x)
        x = feats.pop()
        for up, dec in zip(self.up, self.dec, strict=True):
            x = up(x)
            skip = feats.pop()
            x = dec(torch.cat([skip, x], dim=1) if self.skips else x)
        return self.head(x)


def bce_dice_loss(logits: torch.Tensor, target: torch.Tensor, dice_weight: float = 1.0, eps: float = 1.0):
    """Binary cross-entropy plus ``dice_weight`` * (1 - soft Dice over the batch); both inputs (N, 1, H, W).

    The soft Dice uses sigmoid probabilities and ``eps`` smoothing; it pushes on the overlap directly,
    which helps when the positive class is a minority (about 14% of pixels here).
    """
    if logits.shape != target.shape:
        raise ValueError(f"logits and target must have the same shape; got {tuple(logits.shape)}, "
                         f"{tuple(target.shape)}")
    target = target.float()
    bce = nn.functional.binary_cross_entropy_with_logits(logits, target)
    p = torch.sigmoid(logits)
    soft_dice = (2 * (p * target).sum() + eps) / (p.sum() + target.sum() + eps)
    return bce + dice_weight * (1 - soft_dice)


@torch.inference_mode()
def predict_probs(model: nn.Module, x: torch.Tensor, batch_size: int = 64, tta: bool = False) -> np.ndarray:
    """Sigmoid probabilities (N, H, W) float32 of ``model`` (put in eval mode) on images ``x`` (N, C, H, W).

    ``tta=True`` averages the 8 flips/rotations (test-time augmentation).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    model.eval()
    out = []
    for s in range(0, len(x), batch_size):
        xb = x[s:s + batch_size]
        if not tta:
            out.append(torch.sigmoid(model(xb))[:, 0])
            continue
        acc = 0
        for c in range(8):
            t = xb.flip(-1) if c >= 4 else xb
            t = torch.rot90(t, c % 4, (-2, -1))
            p = torch.sigmoid(model(t))
            p = torch.rot90(p, -(c % 4), (-2, -1))
            acc = acc + (p.flip(-1) if c >= 4 else p)
        out.append((acc / 8)[:, 0])
    return torch.cat(out).numpy()
