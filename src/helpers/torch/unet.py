"""Binary segmentation in PyTorch: a U-Net, its loss, augmentation and (test-time augmented) prediction.

* :class:`UNet`: a small PyTorch U-Net (conv-BN-ReLU blocks, max-pool down, transposed-conv up) whose skip
  connections can be switched off for the ablation; :class:`UNetPlusPlus`, the nested-skip variant of Zhou et
  al. (2018) built from the same blocks; :func:`build_unet` makes either from a training log's ``"model"``.
* :func:`bce_dice_loss`, :func:`lovasz_hinge_loss` (Berman et al.'s convex surrogate of 1 - IoU),
  :func:`random_dihedral` (flips and 90-degree rotations), :func:`images_to_tensor` and :func:`predict_probs`
  (sigmoid probabilities, optionally averaged over the 8 flips/rotations).
* :func:`random_scale_intensity` (random zoom in/out plus gamma/contrast/brightness jitter),
  :func:`grey_to_tensor` (for images normalized by :func:`helpers.numpy.intensity.normalize_nuclei_images`)
  and :func:`dihedral_tta` (any image-to-map function averaged over the 8 flips/rotations).

The NumPy pieces live elsewhere: IoU/Dice in :mod:`helpers.numpy.metrics`, the channel concatenation of a
skip connection in :mod:`helpers.numpy.layers`, and the seeded DSB2018 split in :func:`helpers.data.dsb2018_split`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from helpers.checks import positive_int
from helpers.torch.metrics import channels_last_batch, channels_last_copy
from helpers.torch.modes import eval_mode

__all__ = ["images_to_tensor", "grey_to_tensor", "UNet", "UNetPlusPlus", "build_unet", "bce_dice_loss",
           "lovasz_hinge_loss", "random_dihedral", "random_scale_intensity", "dihedral_tta", "predict_probs"]


def images_to_tensor(x) -> torch.Tensor:
    """uint8 images (N, H, W, 3) -> float32 tensor (N, 3, H, W) in [0, 1]."""
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[-1] != 3 or x.dtype != np.uint8:
        raise ValueError(f"expected uint8 images of shape (N, H, W, 3); got {x.dtype} {x.shape}")
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).float().div_(255.0)


def grey_to_tensor(g) -> torch.Tensor:
    """float grey images (N, H, W) -> float32 tensor (N, 1, H, W) (e.g. from ``normalize_nuclei_images``)."""
    g = np.asarray(g)
    if g.ndim != 3 or not np.issubdtype(g.dtype, np.floating):
        raise ValueError(f"expected float grey images of shape (N, H, W); got {g.dtype} {g.shape}")
    return torch.from_numpy(np.ascontiguousarray(g, dtype=np.float32))[:, None]


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


def random_scale_intensity(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None,
                           scale=(0.75, 1.33), gamma=(0.7, 1.4), contrast=(0.8, 1.2), brightness=0.1):
    """Random zoom and intensity jitter per sample of images ``x`` (N, C, H, W) in [0, 1] and masks ``y`` (N, 1, H, W).

    Each sample is zoomed by a factor drawn log-uniformly from ``scale`` about a random centre (bilinear;
    pixels from outside are mirrored, the mask likewise, then re-thresholded at 0.5), then its intensities
    become ``clip(contrast * x**gamma + brightness_shift, 0, 1)`` with ``gamma`` log-uniform in its range,
    ``contrast`` uniform in its range and the shift uniform in ``[-brightness, brightness]``. ``scale=None``
    or ``gamma=None`` etc. switch a part off. Returns new tensors (the mask as float 0/1).
    """
    if x.ndim != 4 or y.ndim != 4 or x.shape[0] != y.shape[0] or x.shape[2:] != y.shape[2:]:
        raise ValueError(f"x and y must be (N, C, H, W) with the same N, H, W; got {tuple(x.shape)}, {tuple(y.shape)}")
    n = x.shape[0]

    def draw(bounds, log=False):
        lo, hi = (float(np.log(bounds[0])), float(np.log(bounds[1]))) if log else map(float, bounds)
        v = lo + (hi - lo) * torch.rand(n, generator=generator)
        return v.exp() if log else v

    x, y = x.float(), y.float()
    if scale is not None:
        s = draw(scale, log=True)                          # > 1 zooms in
        room = (1 - 1 / s).clamp(min=0)                    # the centre may move as far as the zoom allows
        shift = (2 * torch.rand(n, 2, generator=generator) - 1) * room[:, None]
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0] = theta[:, 1, 1] = 1 / s
        theta[:, :, 2] = shift
        grid = nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
        x = nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        y = (nn.functional.grid_sample(y, grid, mode="bilinear", padding_mode="reflection",
                                       align_corners=False) > 0.5).float()
    if gamma is not None:
        x = x.clamp(min=0).pow(draw(gamma, log=True)[:, None, None, None])
    if contrast is not None:
        x = x * draw(contrast)[:, None, None, None]
    if brightness:
        x = x + draw((-brightness, brightness))[:, None, None, None]
    return x.clamp(0, 1), y


def dihedral_tta(fn, x: torch.Tensor) -> torch.Tensor:
    """The mean over the 8 flips/90-degree rotations g of ``g^-1(fn(g(x)))``; ``fn`` maps (N, C, H, W) to (N, K, H, W).

    Test-time augmentation: each transformed prediction is transformed back before averaging, so for
    an ``fn`` that commutes with flips and rotations (an equivariant one) the result equals ``fn(x)``.
    """
    if x.ndim != 4 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"dihedral_tta needs square images (N, C, H, W); got {tuple(x.shape)}")
    acc = 0
    for c in range(8):
        t = x.flip(-1) if c >= 4 else x
        t = torch.rot90(t, c % 4, (-2, -1))
        p = torch.rot90(fn(t), -(c % 4), (-2, -1))
        acc = acc + (p.flip(-1) if c >= 4 else p)
    return acc / 8


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
    network minus the concatenations (an encoder-decoder), for the ablation. ``upsample=u > 1`` runs the
    whole network on the image enlarged ``u`` times (bilinear) and average-pools its logits back to (H, W):
    the same weights, ``u**2`` times the compute, ``u`` times as many positions across each small object, and
    a receptive field ``u`` times smaller when measured in the original pixels.
    """

    def __init__(self, in_channels: int = 3, width: int = 16, depth: int = 3, skips: bool = True,
                 batchnorm: bool = True, upsample: int = 1):
        super().__init__()
        in_channels, width, depth, upsample = (positive_int(v, name) for name, v in
                                               (("in_channels", in_channels), ("width", width), ("depth", depth),
                                                ("upsample", upsample)))
        self.depth, self.skips, self.upsample = depth, bool(skips), upsample
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
        if self.upsample > 1:
            x = nn.functional.interpolate(x, scale_factor=self.upsample, mode="bilinear", align_corners=False)
        feats = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            feats.append(x)
        x = feats.pop()
        for up, dec in zip(self.up, self.dec, strict=True):
            x = up(x)
            skip = feats.pop()
            x = dec(torch.cat([skip, x], dim=1) if self.skips else x)
        logits = self.head(x)
        return nn.functional.avg_pool2d(logits, self.upsample) if self.upsample > 1 else logits


class UNetPlusPlus(nn.Module):
    """UNet++ (Zhou et al. 2018, without deep supervision): a U-Net whose skips are dense chains of blocks.

    Node ``X[i][j]`` works at level ``i`` (``width * 2**i`` channels, ``1/2**i`` of the resolution).
    ``X[i][0]`` is the encoder, as in :class:`UNet`; for ``j >= 1``, ``X[i][j]`` is a conv block applied to the
    concatenation of ``X[i][0], ..., X[i][j-1]`` and the upsampled ``X[i+1][j-1]`` (``ConvTranspose2d(k=2, s=2)``).
    The logits come from ``X[0][depth]`` through a 1x1 convolution: (N, 1, H, W); H and W must be divisible
    by ``2**depth``. Where the U-Net joins an encoder map straight to the decoder, each level here refines it
    through ``depth - i`` blocks first: the paper's answer to the "semantic gap" between the two.
    """

    def __init__(self, in_channels: int = 3, width: int = 16, depth: int = 3, batchnorm: bool = True):
        super().__init__()
        in_channels, width, depth = (positive_int(v, name) for name, v in
                                     (("in_channels", in_channels), ("width", width), ("depth", depth)))
        self.depth = depth
        ch = [width * 2 ** i for i in range(depth + 1)]
        self.down = nn.ModuleList([_block(in_channels, ch[0], batchnorm)] +
                                  [_block(ch[i], ch[i + 1], batchnorm) for i in range(depth)])
        self.pool = nn.MaxPool2d(2)
        # node (i, j) for j = 1..depth and i = 0..depth-j, keyed "i_j"
        self.up = nn.ModuleDict({f"{i}_{j}": nn.ConvTranspose2d(ch[i + 1], ch[i], 2, stride=2)
                                 for j in range(1, depth + 1) for i in range(depth - j + 1)})
        self.node = nn.ModuleDict({f"{i}_{j}": _block(ch[i] * (j + 1), ch[i], batchnorm)
                                   for j in range(1, depth + 1) for i in range(depth - j + 1)})
        self.head = nn.Conv2d(ch[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[-1] % 2 ** self.depth or x.shape[-2] % 2 ** self.depth:
            raise ValueError(f"UNetPlusPlus needs (N, C, H, W) with H, W divisible by {2 ** self.depth}; "
                             f"got {tuple(x.shape)}")
        nodes = []                                   # nodes[i] = [X[i][0], X[i][1], ...]
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            nodes.append([x])
        for j in range(1, self.depth + 1):
            for i in range(self.depth - j + 1):
                up = self.up[f"{i}_{j}"](nodes[i + 1][j - 1])
                nodes[i].append(self.node[f"{i}_{j}"](torch.cat([*nodes[i][:j], up], dim=1)))
        return self.head(nodes[0][self.depth])


def build_unet(model: dict) -> nn.Module:
    """The untrained network a training log's ``"model"`` entry describes: a :class:`UNet` or a :class:`UNetPlusPlus`.

    ``model`` holds ``"class"`` (``"helpers.torch.unet.UNet"`` or ``"helpers.torch.unet.UNetPlusPlus"``; older
    logs without it mean the U-Net), ``"width"``, ``"depth"``, ``"in_channels"`` (3 when absent) and, for the
    U-Net, ``"skips"`` and ``"upsample"`` (1 when absent). Load the checkpoint's weights into the result.
    """
    name = model.get("class", "helpers.torch.unet.UNet")
    common = {"in_channels": model.get("in_channels", 3), "width": model["width"], "depth": model["depth"]}
    if name == "helpers.torch.unet.UNet":
        return UNet(skips=model.get("skips", True), upsample=model.get("upsample", 1), **common)
    if name == "helpers.torch.unet.UNetPlusPlus":
        return UNetPlusPlus(**common)
    raise ValueError(f"unknown segmentation network {name!r}: expected helpers.torch.unet.UNet or "
                     "helpers.torch.unet.UNetPlusPlus")


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


def lovasz_hinge_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Lovász hinge loss over all pixels of the batch (Berman et al., CVPR 2018); both inputs (N, 1, H, W).

    Each pixel's hinge error is ``max(0, 1 - s z)`` with sign ``s = +1`` for nucleus and ``-1`` for background
    and logit ``z``; the loss is the Lovász extension of the Jaccard loss, 1 - IoU, at the vector of errors:
    sort the errors in decreasing order and weight each by how much adding its pixel to the "wrong" set raises
    1 - IoU. With logits of +-1 the errors are 0 (right) and 2 (wrong), and the loss is 2 * (1 - IoU) of the
    mask ``z > 0`` (the extension equals the Jaccard loss on 0/1 errors and is positively homogeneous).
    Pooling over the batch, not per image, matches the pooled foreground IoU the lesson reports; under
    data-parallel training each process pools its own share of the batch.
    """
    if logits.shape != target.shape:
        raise ValueError(f"logits and target must have the same shape; got {tuple(logits.shape)}, "
                         f"{tuple(target.shape)}")
    z, y = logits.reshape(-1), target.reshape(-1).float()
    errors = 1 - z * (2 * y - 1)
    errors_sorted, order = torch.sort(errors, descending=True)
    y_sorted = y[order]
    positives = y_sorted.sum()
    intersection = positives - y_sorted.cumsum(0)
    union = positives + (1 - y_sorted).cumsum(0)
    jaccard_loss = 1 - intersection / union                       # 1 - IoU once the first k pixels are wrong
    weights = torch.cat([jaccard_loss[:1], jaccard_loss[1:] - jaccard_loss[:-1]])
    return torch.dot(torch.relu(errors_sorted), weights)


@torch.inference_mode()
def predict_probs(model: nn.Module, x: torch.Tensor, batch_size: int = 8, tta: bool = False,
                  channels_last: bool = True) -> np.ndarray:
    """Sigmoid probabilities (N, H, W) float32 of ``model`` on images ``x`` (N, C, H, W), in eval mode.

    ``tta=True`` averages the 8 flips/rotations (test-time augmentation). Every
    submodule's mode is restored afterwards (:func:`helpers.torch.modes.eval_mode`).
    ``channels_last=True`` runs a copy of the model with its weights and inputs in PyTorch's
    channels-last memory layout (the caller's model is not changed), and small batches keep a
    96x96 U-Net's activations in the CPU's cache: the 99 test images with TTA on one thread took
    6.6 s in channels-last batches of 8 against 11.4 s in the default layout in batches of 16
    (8.0 s in channels-last batches of 16); the probabilities differ by at most about 3e-7
    (float32 rounding in a different order). ``channels_last=False`` and a batch size reproduce
    a score computed that way bit for bit.
    """
    batch_size = positive_int(batch_size, "batch_size")
    if x.ndim != 4:
        raise ValueError(f"x must be a batch of images (N, C, H, W); got shape {tuple(x.shape)}")
    with eval_mode(model):
        if channels_last:
            model = channels_last_copy(model)
        return _predict_probs(model, x, batch_size, tta, channels_last)


def _predict_probs(model: nn.Module, x: torch.Tensor, batch_size: int, tta: bool, channels_last: bool) -> np.ndarray:
    out = []
    for s in range(0, len(x), batch_size):
        xb = x[s:s + batch_size]
        if channels_last:
            xb = channels_last_batch(xb)
        if not tta:
            out.append(torch.sigmoid(model(xb))[:, 0])
            continue
        out.append(dihedral_tta(lambda t: torch.sigmoid(model(t)), xb)[:, 0])
    return torch.cat(out).contiguous().numpy()
