"""ResNets for 32x32 images in PyTorch (He et al., 2016, section 4.2), with the skips switchable off.

``CifarResNet(depth=20)`` is the CIFAR-10 network of the ResNet paper: a 3x3
convolution, three stages of ``n`` basic blocks with ``width``, ``2*width`` and
``4*width`` channels (the second and third stage start with stride 2), global
average pooling and a linear classifier: ``depth = 6n + 2`` weight layers.

``residual=False`` removes every skip connection and leaves everything else
unchanged: the *plain* network of the same depth, the paper's control for the
degradation problem. ``shortcut`` chooses what the skip does where a block
changes the shape: ``"projection"`` (a 1x1 convolution with stride and a batch
norm, the paper's option B) or ``"zeropad"`` (subsample and pad the new channels
with zeros, option A, no parameters). Where the shape is unchanged the skip is
always the identity. ``zero_init_residual=True`` starts the last batch norm of
every residual branch at gamma = 0, so each block starts as the identity
(torchvision's option of the same name; Goyal et al., 2017).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from helpers.checks import positive_int

__all__ = ["BasicBlock", "CifarResNet", "gradient_norms", "load_cifar_resnet"]

_SHORTCUTS = ("projection", "zeropad")


class _ZeroPadShortcut(nn.Module):
    """Option A: keep every ``stride``-th pixel and append zero channels up to ``out_ch``."""

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        if out_ch < in_ch:
            raise ValueError(f"a zero-padding shortcut cannot reduce channels ({in_ch} -> {out_ch})")
        self.extra, self.stride = out_ch - in_ch, stride

    def forward(self, x):
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))


class BasicBlock(nn.Module):
    """``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``; with ``residual=False`` the sum is dropped.

    ``conv1`` is 3x3 with ``stride``, ``conv2`` 3x3 with stride 1, both without
    bias. The shortcut is the identity when the shape is kept, otherwise a
    projection (1x1 conv + BN) or a zero-padding shortcut (see the module docstring).
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, residual: bool = True,
                 shortcut: str = "projection"):
        super().__init__()
        in_ch, out_ch = positive_int(in_ch, "in_ch"), positive_int(out_ch, "out_ch")
        stride = positive_int(stride, "stride")
        if shortcut not in _SHORTCUTS:
            raise ValueError(f"shortcut must be one of {_SHORTCUTS}, got {shortcut!r}")
        self.residual = bool(residual)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut = nn.Identity()
        if self.residual and (stride != 1 or in_ch != out_ch):
            if shortcut == "projection":
                self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))
            else:
                self.shortcut = _ZeroPadShortcut(in_ch, out_ch, stride)

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if self.residual:
            out = out + self.shortcut(x)
        return F.relu(out)


class CifarResNet(nn.Module):
    """The ResNet of depth ``6n + 2`` for 32x32 images (``depth`` in 8, 14, 20, 26, 32, 44, 56, ...).

    Parameters: ``depth``, ``width`` (channels of the first stage, 16 in the paper),
    ``residual`` (``False``: the plain network), ``shortcut`` (``"projection"`` or
    ``"zeropad"``), ``zero_init_residual``, ``num_classes``, ``in_channels``.
    Input ``(N, in_channels, H, W)``; output logits ``(N, num_classes)``.
    """

    def __init__(self, depth: int = 20, width: int = 16, residual: bool = True, shortcut: str = "projection",
                 zero_init_residual: bool = False, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth must be 6n + 2 with n >= 1 (8, 14, 20, 26, 32, 44, 56, ...), got {depth!r}")
        width, num_classes = positive_int(width, "width"), positive_int(num_classes, "num_classes")
        in_channels = positive_int(in_channels, "in_channels")
        self.depth, self.residual = depth, bool(residual)
        n = (depth - 2) // 6
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        blocks, in_ch = [], width
        for stage, out_ch in enumerate((width, 2 * width, 4 * width)):
            for i in range(n):
                stride = 2 if (stage > 0 and i == 0) else 1
                blocks.append(BasicBlock(in_ch, out_ch, stride, residual, shortcut))
                in_ch = out_ch
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_ch, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if zero_init_residual and self.residual:
            for block in self.blocks:
                nn.init.zeros_(block.bn2.weight)

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.stem[0].in_channels:
            raise ValueError(f"expected input of shape (N, {self.stem[0].in_channels}, H, W); got {tuple(x.shape)}")
        return self.head(self.blocks(self.stem(x)))


def gradient_norms(model: nn.Module) -> list[tuple[str, float]]:
    """L2 norm of the gradient of every convolution and linear weight, in the order of ``model.modules()``.

    Call it after ``loss.backward()``. Returns ``[(module_name, norm), ...]``;
    shortcut projections are left out, so the list follows the main path, from
    the input to the output. Raises ``ValueError`` if no such weight has a gradient.
    """
    norms = []
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)) and "shortcut" not in name and module.weight.grad is not None:
            norms.append((name, float(module.weight.grad.norm())))
    if not norms:
        raise ValueError("no convolution or linear weight has a gradient: call loss.backward() first")
    return norms




def load_cifar_resnet(name: str = "resnet20_cifar10", pixel_input: bool = False):
    """A committed :class:`CifarResNet` checkpoint in eval mode, and its training log: ``(model, log)``.

    The weights are loaded strictly (every name and shape must match today's
    model). The network expects images normalized with the training statistics
    stored in ``log["data"]``; with ``pixel_input=True`` the model is
    ``nn.Sequential(normalize=Normalize(mean, std), net=resnet)`` and takes pixels
    in ``[0, 1]`` instead (what attacks and transfer learning need).
    """
    from collections import OrderedDict

    from helpers.torch.checkpoints import load_checkpoint

    state, log = load_checkpoint(name)
    model = CifarResNet(log["model"]["depth"], width=log["model"]["width"],
                        num_classes=log["model"].get("num_classes", 10))
    model.load_state_dict(state)
    if pixel_input:
        from helpers.torch.models import Normalize

        model = nn.Sequential(OrderedDict(normalize=Normalize(log["data"]["mean"], log["data"]["std"]), net=model))
    return model.eval(), log
