"""Small CNNs that differ only in how far they can look: a comparison task that needs the whole image.

:func:`digit_pair_canvases` pastes two real digits side by side on a wide blank canvas with the label
"is the digit of the first class on the left?" (both orders equally likely, so chance is 50 %).
:func:`context_model` builds four networks with the same kind of local trunk: ``"local"`` (three 3x3
convolutions and two max-poolings, receptive field 18 pixels, then global average pooling: a bag of local
features that cannot know which digit is on which side), ``"dilated"`` (the same layers with dilations 1, 4, 8:
receptive field 86 pixels, wider than the two digits), ``"attention"`` (the local trunk, then one
self-attention layer with learned position embeddings over all positions, then pooling) and
``"attention_nopos"`` (the same without position embeddings: attention alone is order-blind too).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from helpers.checks import as_generator, integer, positive_int

__all__ = ["digit_pair_canvases", "context_model", "AttentionHead", "CONTEXT_KINDS"]

CONTEXT_KINDS = ("local", "dilated", "attention", "attention_nopos")


def digit_pair_canvases(images, labels, n: int, classes=(3, 7), gap: int = 12, margin: int = 10, seed=0,
                        both_orders: bool = False):
    """``(x, y, pairs)``: ``n`` canvases ``(n, 28, 2 * margin + 56 + gap)`` uint8, each with two real digits.

    Every canvas holds one digit of class ``classes[0]`` and one of class ``classes[1]`` (random instances) side
    by side: one starts at column ``margin``, the other at ``margin + 28 + gap``; ``y = 1`` when the
    ``classes[0]`` digit is on the left. ``pairs`` holds the ``(left, right)`` indices into ``images``. With
    ``both_orders=True`` the second half of the canvases are the first half with the two digits swapped (label
    flipped), so a model that cannot tell left from right scores exactly 50 %; ``n`` must then be even.
    """
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != (len(images),):
        raise ValueError(f"images must be (N, 28, 28) with N labels; got {images.shape} and {labels.shape}")
    n, gap, margin = positive_int(n, "n"), integer(gap, "gap", minimum=0), integer(margin, "margin", minimum=0)
    if len(classes) != 2 or classes[0] == classes[1]:
        raise ValueError(f"classes must be two different labels; got {classes!r}")
    pools = [np.flatnonzero(labels == c) for c in classes]
    if not all(len(p) for p in pools):
        raise ValueError(f"both classes {tuple(classes)} must occur in labels")
    if both_orders and n % 2:
        raise ValueError(f"with both_orders=True, n must be even; got {n}")
    gen = as_generator(seed)
    m = n // 2 if both_orders else n
    first, second = gen.choice(pools[0], m), gen.choice(pools[1], m)
    on_left = np.ones(m, bool) if both_orders else gen.random(m) < 0.5
    left, right = np.where(on_left, first, second), np.where(on_left, second, first)
    if both_orders:
        left, right = np.concatenate([left, right]), np.concatenate([right, left])
    width = 2 * margin + 56 + gap
    x = np.zeros((n, 28, width), dtype=np.uint8)
    x[:, :, margin:margin + 28] = images[left]
    x[:, :, margin + 28 + gap:margin + 56 + gap] = images[right]
    y = (labels[left] == classes[0]).astype(np.int64)
    return x, y, np.stack([left, right], 1)


class AttentionHead(nn.Module):
    """One pre-norm self-attention block over the positions of a feature map, with optional learned positions."""

    def __init__(self, channels: int, size: tuple[int, int], heads: int = 4, positions: bool = True):
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)
        self.pos = nn.Parameter(0.02 * torch.randn(1, size[0] * size[1], channels)) if positions else None

    def forward(self, x):
        n, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)                   # (N, HW, C) tokens
        if self.pos is not None:
            if self.pos.shape[1] != h * w:
                raise ValueError(f"position embeddings are for {self.pos.shape[1]} positions; got {h}x{w}")
            t = t + self.pos
        q = self.norm(t)
        t = t + self.attn(q, q, q, need_weights=False)[0]
        return t.transpose(1, 2).reshape(n, c, h, w)


def context_model(kind: str = "local", width: int = 32, canvas: tuple[int, int] = (28, 88)) -> nn.Sequential:
    """``nn.Sequential(trunk=..., [attention=...], head=...)`` mapping ``(N, 1, H, W)`` to 2 logits.

    ``kind`` is one of :data:`CONTEXT_KINDS` (see the module docstring). ``canvas`` is only used for the
    size of the position embeddings of ``"attention"``.
    """
    if kind not in CONTEXT_KINDS:
        raise ValueError(f"kind must be one of {CONTEXT_KINDS}; got {kind!r}")
    width = positive_int(width, "width")
    d = (1, 4, 8) if kind == "dilated" else (1, 1, 1)
    trunk = nn.Sequential(
        nn.Conv2d(1, width // 2, 3, padding=d[0], dilation=d[0]), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width // 2, width, 3, padding=d[1], dilation=d[1]), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, width, 3, padding=d[2], dilation=d[2]), nn.ReLU())
    parts = [("trunk", trunk)]
    if kind.startswith("attention"):
        size = (canvas[0] // 4, canvas[1] // 4)
        parts.append(("attention", AttentionHead(width, size, positions=kind == "attention")))
    parts.append(("head", nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 64), nn.ReLU(),
                                        nn.Linear(64, 2))))
    return nn.Sequential(OrderedDict(parts))
