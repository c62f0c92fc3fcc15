"""A small Vision Transformer for 32x32 images: patch embedding by a strided convolution, then attention.

:class:`SmallViT` follows Dosovitskiy et al.'s recipe at toy scale: cut the image into ``patch x patch``
patches (a ``Conv2d`` with ``kernel_size = stride = patch`` is one linear map per patch), add a learned
position embedding, prepend a learned class token, run ``depth`` pre-norm transformer encoder layers
(:class:`torch.nn.TransformerEncoderLayer`), and classify the class token. It has no convolutional prior
beyond the patch cut: which patch is next to which must be learned from the position embedding.
"""

from __future__ import annotations

import torch
from torch import nn

from helpers.checks import positive_int

__all__ = ["SmallViT"]


class SmallViT(nn.Module):
    """A Vision Transformer sized for CIFAR-10: ``(N, C, H, W)`` images -> ``(N, n_classes)`` logits.

    ``image_size`` must be a multiple of ``patch``; ``dim`` a multiple of ``heads``. The MLP of each
    encoder layer has ``mlp_ratio * dim`` hidden units and GELU. :meth:`tokens` returns the patch tokens
    (before the class token and position embedding are added), for pictures of the patch embedding.
    """

    def __init__(self, image_size: int = 32, patch: int = 4, in_channels: int = 3, dim: int = 64, depth: int = 4,
                 heads: int = 4, mlp_ratio: int = 2, n_classes: int = 10, dropout: float = 0.0):
        super().__init__()
        image_size, patch = positive_int(image_size, "image_size"), positive_int(patch, "patch")
        dim, depth, heads = positive_int(dim, "dim"), positive_int(depth, "depth"), positive_int(heads, "heads")
        in_channels, n_classes = positive_int(in_channels, "in_channels"), positive_int(n_classes, "n_classes")
        mlp_ratio = positive_int(mlp_ratio, "mlp_ratio")
        if image_size % patch:
            raise ValueError(f"image_size ({image_size}) must be a multiple of patch ({patch})")
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be a multiple of heads ({heads})")
        if not (isinstance(dropout, (int, float)) and not isinstance(dropout, bool) and 0 <= dropout < 1):
            raise ValueError(f"dropout must be a probability in [0, 1); got {dropout!r}")
        self.image_size, self.patch = image_size, patch
        self.n_patches = (image_size // patch) ** 2
        self.embed = nn.Conv2d(in_channels, dim, kernel_size=patch, stride=patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, self.n_patches + 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=mlp_ratio * dim, dropout=dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, n_classes)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Patch tokens ``(N, n_patches, dim)``, row by row, of images ``(N, C, image_size, image_size)``."""
        if x.ndim != 4 or x.shape[1] != self.embed.in_channels or x.shape[2:] != (self.image_size, self.image_size):
            raise ValueError(f"x must have shape (N, {self.embed.in_channels}, {self.image_size}, {self.image_size});"
                             f" got {tuple(x.shape)}")
        return self.embed(x).flatten(2).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.tokens(x)
        t = torch.cat([self.cls.expand(len(t), -1, -1), t], dim=1) + self.pos
        return self.head(self.norm(self.encoder(t)[:, 0]))

