"""A small one-stage (YOLO-style) detector for digits on canvases, its loss in PyTorch, and its training loop.

The grid conventions, the target encoding and the reference loss are the NumPy ones of
:mod:`helpers.numpy.boxes`; :func:`yolo_loss` is the same formula on tensors (so autograd trains it), and
:func:`to_grid` turns the network's ``(N, A * (5 + C), S, S)`` output into the ``(N, S, S, A, 5 + C)`` layout
those functions use.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers.checks import positive_int
from helpers.numpy.boxes import encode_targets, postprocess

__all__ = ["DigitDetector", "to_grid", "yolo_loss", "grid_targets", "train_detector", "raw_predictions", "detect"]


def _block(c_in, c_out):
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.1)]


class DigitDetector(nn.Module):
    """A DarkNet-flavoured tiny backbone (3x3 conv - batch norm - leaky ReLU, 2x2 max pools) and a 1x1 head.

    Input ``(N, 1, H, W)`` pixels in [0, 1] with ``H, W`` multiples of 8; output ``(N, A * (5 + C), H/8, W/8)``:
    for each cell and anchor, objectness, box offsets and class logits (see :mod:`helpers.numpy.boxes`).
    """

    stride = 8

    def __init__(self, anchors, n_classes: int = 10, width: int = 16):
        super().__init__()
        width = positive_int(width, "width")
        self.n_classes = positive_int(n_classes, "n_classes")
        self.register_buffer("anchors", torch.as_tensor(np.asarray(anchors, np.float32)))
        w = width
        self.backbone = nn.Sequential(
            *_block(1, w), nn.MaxPool2d(2),
            *_block(w, 2 * w), nn.MaxPool2d(2),
            *_block(2 * w, 4 * w), nn.MaxPool2d(2),
            *_block(4 * w, 4 * w), *_block(4 * w, 4 * w))
        self.head = nn.Conv2d(4 * w, len(self.anchors) * (5 + self.n_classes), 1)
        with torch.no_grad():                   # start with few confident boxes (prior objectness ~1%)
            self.head.bias.view(len(self.anchors), 5 + self.n_classes)[:, 0] = -4.6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def to_grid(out: torch.Tensor, n_anchors: int) -> torch.Tensor:
    """``(N, A * (5 + C), S, S)`` network output -> ``(N, S, S, A, 5 + C)`` (the NumPy functions' layout)."""
    n, ch, s, s2 = out.shape
    if ch % n_anchors:
        raise ValueError(f"{ch} output channels are not a multiple of {n_anchors} anchors")
    return out.view(n, n_anchors, ch // n_anchors, s, s2).permute(0, 3, 4, 1, 2)


def grid_targets(targets, grid: int, stride: float, anchors, n_classes: int, dtype=torch.float32) -> dict:
    """:func:`helpers.numpy.boxes.encode_targets` as tensors (``obj`` bool, ``box`` of ``dtype``, ``cls`` int64)."""
    enc = encode_targets(targets, grid, stride, anchors, n_classes)
    return {"obj": torch.from_numpy(enc["obj"]), "box": torch.from_numpy(enc["box"]).to(dtype),
            "cls": torch.from_numpy(enc["cls"])}


def yolo_loss(pred: torch.Tensor, target: dict, lambda_coord: float = 5.0, lambda_noobj: float = 0.5):
    """:func:`helpers.numpy.boxes.yolo_loss_forward` in PyTorch: ``(loss, parts)`` for ``pred`` (N, S, S, A, 5 + C)."""
    n = pred.shape[0]
    pos = target["obj"].to(pred.dtype)
    box = target["box"].to(pred.dtype)
    xy = torch.sigmoid(pred[..., 1:3])
    coord = lambda_coord * ((pos[..., None] * (xy - box[..., :2]) ** 2).sum()
                            + (pos[..., None] * (pred[..., 3:5] - box[..., 2:4]) ** 2).sum())
    t_obj = pred[..., 0]
    obj = (pos * F.softplus(-t_obj)).sum() + lambda_noobj * ((1 - pos) * F.softplus(t_obj)).sum()
    cls = target["cls"].clamp(min=0)
    ce = F.cross_entropy(pred[..., 5:].reshape(-1, pred.shape[-1] - 5), cls.reshape(-1), reduction="none")
    cls_loss = (pos.reshape(-1) * ce).sum()
    parts = {"coord": coord.detach() / n, "obj": obj.detach() / n, "cls": cls_loss.detach() / n}
    return (coord + obj + cls_loss) / n, parts


def _images(x) -> torch.Tensor:
    x = torch.as_tensor(x)
    if x.dtype == torch.uint8:
        x = x.float() / 255
    return x[:, None] if x.ndim == 3 else x


def train_detector(model: DigitDetector, images, targets, steps: int, batch_size: int = 64, lr: float = 3e-3,
                   seed: int = 0, progress=None, callback=None, every: int = 0) -> list[dict]:
    """Train ``model`` for ``steps`` Adam steps (one-cycle schedule) on random batches; returns per-step losses.

    ``images`` (N, H, W) uint8 canvases and ``targets`` their list of ``{"boxes", "labels"}`` dicts. Batches are
    drawn with replacement from a seeded generator (no augmentation). ``callback(step, model)``, if given, runs
    after every ``every`` steps (e.g. to evaluate; the model is put back in train mode after it). ``progress``
    is an optional tqdm-like wrapper for the step range.
    """
    steps, batch_size = positive_int(steps, "steps"), positive_int(batch_size, "batch_size")
    gen = np.random.default_rng(seed)
    anchors = model.anchors.numpy()
    grid = images.shape[1] // model.stride
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.2)
    history = []
    model.train()
    rng_steps = range(steps) if progress is None else progress(range(steps))
    for _ in rng_steps:
        idx = gen.integers(0, len(images), batch_size)
        target = grid_targets([targets[i] for i in idx], grid, model.stride, anchors, model.n_classes)
        pred = to_grid(model(_images(images[idx])), len(anchors))
        loss, parts = yolo_loss(pred, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        history.append({"loss": float(loss.detach()), **{k: float(v) for k, v in parts.items()}})
        if callback is not None and every and len(history) % every == 0:
            callback(len(history), model)
            model.train()
    model.eval()
    return history


@torch.no_grad()
def raw_predictions(model: DigitDetector, images, batch_size: int = 256) -> np.ndarray:
    """The model's raw grid predictions (N, S, S, A, 5 + C) as a float64 NumPy array (eval mode)."""
    model.eval()
    outs = [to_grid(model(_images(images[i:i + batch_size])), len(model.anchors)).double().numpy()
            for i in range(0, len(images), batch_size)]
    return np.concatenate(outs)


def detect(model: DigitDetector, images, score_threshold: float = 0.05, iou_threshold: float | None = 0.5,
           max_dets: int = 100) -> list[dict]:
    """Detections per image (``{"boxes", "scores", "labels"}`` NumPy arrays) with the NumPy decoding and NMS."""
    return postprocess(raw_predictions(model, images), model.stride, model.anchors.numpy(), score_threshold,
                       iou_threshold, max_dets)

