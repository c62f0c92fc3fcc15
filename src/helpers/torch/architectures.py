"""Classic CNN architectures and cheaper convolutions: counting, building, comparing.

* Formulas: :func:`conv_params`, :func:`conv_flops`, :func:`separable_cost_ratio`.
* Measurement of a PyTorch model: :func:`count_macs`, :func:`fc_param_share`,
  :func:`summarize` (parameters are counted by :func:`helpers.torch.params.count_params`).
* Building blocks: :func:`lenet5`, :class:`Inception` (with or without the 1x1
  bottleneck), :func:`separable_conv` (depthwise + pointwise), :class:`SqueezeExcite`.
* :func:`small_cifar_net`: one small CIFAR-10 network in three variants that differ only in
  their convolutions (standard, depthwise-separable, separable + SE), for accuracy-per-FLOP comparisons.

FLOPs are counted as **multiply-adds** (MACs): one multiplication plus one
addition is one unit. ``torch.utils.flop_counter.FlopCounterMode`` counts the
two separately, so its number is twice ours; :func:`count_macs` divides by 2.
Only convolutions and matrix products are counted (as that counter does);
activations, pooling and normalization are cheap by comparison.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from helpers.book.timing import median_time
from helpers.checks import positive_int
from helpers.torch.modes import eval_mode
from helpers.torch.params import count_params

__all__ = ["count_macs", "fc_param_share", "summarize", "lenet5", "Inception", "separable_conv",
           "SqueezeExcite", "small_cifar_net", "SMALL_NET_DESIGNS", "load_small_cifar_net"]


def count_macs(model, input_shape) -> int:
    """Multiply-adds of one forward pass of ``model`` on a zero tensor of ``input_shape``.

    Uses ``torch.utils.flop_counter.FlopCounterMode`` (convolutions, linear layers,
    matrix products) and halves its count, which counts a multiply-add as 2 FLOPs.
    """
    shape = _batch_shape(input_shape)
    with eval_mode(model), torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(shape))
    return int(counter.get_total_flops()) // 2


def _batch_shape(input_shape) -> tuple[int, ...]:
    try:
        dims = tuple(input_shape)
    except TypeError:
        dims = ()
    if len(dims) < 2:
        raise ValueError(f"input_shape must be a batch shape like (1, 3, 224, 224), got {input_shape!r}")
    try:
        return tuple(positive_int(d, "every entry of input_shape") for d in dims)
    except ValueError:
        raise ValueError(f"input_shape must be a batch shape of ints >= 1 like (1, 3, 224, 224), "
                         f"got {input_shape!r}") from None


def fc_param_share(model) -> float:
    """Fraction of the parameters of ``model`` that sit in fully connected (``nn.Linear``) layers."""
    total = count_params(model)
    if total == 0:
        raise ValueError("the model has no parameters")
    fc = sum(count_params(m) for m in model.modules() if isinstance(m, nn.Linear))
    return fc / total


def summarize(model, input_shape, repeats: int = 3) -> dict:
    """Parameters, GMACs, fully connected share and median CPU latency (seconds) for one input.

    The latency is :func:`helpers.book.timing.median_time` of ``repeats`` forward passes
    in eval mode without gradients, after one warm-up pass; it depends on the
    machine and on ``torch.get_num_threads()``. Every submodule's mode is restored afterwards.
    """
    shape = _batch_shape(input_shape)
    repeats = positive_int(repeats, "repeats")
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))

    def forward():
        with torch.no_grad():
            model(x)

    with eval_mode(model):
        seconds = median_time(forward, repeats=repeats, warmup=1)
    return {"params": count_params(model), "gmacs": count_macs(model, shape) / 1e9,
            "fc_share": fc_param_share(model), "seconds": seconds}


def lenet5(num_classes: int = 10):
    """LeNet-5 (LeCun et al., 1998) for 1 x 32 x 32 inputs, with ReLU and max pooling.

    conv 5x5 (6) -> pool -> conv 5x5 (16) -> pool -> fc 120 -> fc 84 -> fc ``num_classes``:
    61,706 parameters for 10 classes. (The original used tanh-like units, average
    pooling and a partially connected C3 layer; this is the common modern variant.)
    """
    num_classes = positive_int(num_classes, "num_classes")
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, num_classes),
    )


class Inception(nn.Module):
    """A GoogLeNet Inception module: four parallel branches concatenated along channels.

    Branches: 1x1 conv (``c1``); [1x1 reduce to ``r3`` ->] 3x3 conv (``c3``);
    [1x1 reduce to ``r5`` ->] 5x5 conv (``c5``); 3x3 max pool (stride 1) ->
    1x1 conv (``cp``). With ``bottleneck=False`` the 3x3 and 5x5 convolutions see
    all ``c_in`` channels directly (the "naive" module); the reduce widths are then
    unused. Every branch keeps the spatial size, so the output has
    ``c1 + c3 + c5 + cp`` channels. Each convolution is followed by ReLU.
    """

    def __init__(self, c_in, c1, r3, c3, r5, c5, cp, bottleneck: bool = True):
        super().__init__()
        for v, n in ((c_in, "c_in"), (c1, "c1"), (r3, "r3"), (c3, "c3"), (r5, "r5"), (c5, "c5"), (cp, "cp")):
            positive_int(v, n)

        def conv(a, b, k):
            return [nn.Conv2d(a, b, k, padding=k // 2), nn.ReLU()]

        self.bottleneck = bool(bottleneck)
        self.branch1 = nn.Sequential(*conv(c_in, c1, 1))
        if self.bottleneck:
            self.branch3 = nn.Sequential(*conv(c_in, r3, 1), *conv(r3, c3, 3))
            self.branch5 = nn.Sequential(*conv(c_in, r5, 1), *conv(r5, c5, 5))
        else:
            self.branch3 = nn.Sequential(*conv(c_in, c3, 3))
            self.branch5 = nn.Sequential(*conv(c_in, c5, 5))
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), *conv(c_in, cp, 1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)], dim=1)


def separable_conv(c_in: int, c_out: int, k: int = 3, bias: bool = True):
    """Depthwise-separable convolution (MobileNet): a ``k x k`` depthwise conv then a 1x1 pointwise conv.

    The depthwise part has ``groups = c_in`` (one ``k x k`` filter per channel,
    no mixing across channels, padding ``k // 2``); the pointwise part mixes the
    channels. (MobileNet puts BatchNorm + ReLU between them; left out here so the
    operation can be compared exactly with a NumPy reference.)
    """
    c_in, c_out, k = positive_int(c_in, "c_in"), positive_int(c_out, "c_out"), positive_int(k, "k")
    return nn.Sequential(nn.Conv2d(c_in, c_in, k, padding=k // 2, groups=c_in, bias=bias),
                         nn.Conv2d(c_in, c_out, 1, bias=bias))


class SqueezeExcite(nn.Module):
    """Squeeze-and-Excitation block (Hu et al., 2018): channel attention.

    *Squeeze*: global average pool to one number per channel. *Excite*: a small
    bottleneck MLP (``C -> C / reduction -> C``, ReLU then sigmoid) turns those
    into per-channel gates in (0, 1). The input is multiplied channel-wise by its
    gates. ``forward`` returns the rescaled input; the last gates are kept in
    ``self.last_gates`` (shape ``(N, C)``) for inspection.
    """

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        channels, reduction = positive_int(channels, "channels"), positive_int(reduction, "reduction")
        if reduction > channels:
            raise ValueError(f"reduction={reduction} must not exceed channels={channels}")
        hidden = channels // reduction
        self.fc = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels), nn.Sigmoid())
        self.last_gates = None

    def forward(self, x):
        if x.dim() != 4:
            raise ValueError(f"SqueezeExcite expects (N, C, H, W) input, got shape {tuple(x.shape)}")
        gates = self.fc(x.mean(dim=(2, 3)))
        self.last_gates = gates.detach()
        return x * gates[:, :, None, None]


SMALL_NET_DESIGNS = ("standard", "separable", "separable+se")


def _small_block(c_in: int, c_out: int, stride: int, design: str) -> nn.Sequential:
    if design == "standard":
        conv = [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)]
    else:   # MobileNet's order: depthwise, BN, ReLU, pointwise (then BN, ReLU below)
        conv = [nn.Conv2d(c_in, c_in, 3, stride=stride, padding=1, groups=c_in, bias=False), nn.BatchNorm2d(c_in),
                nn.ReLU(), nn.Conv2d(c_in, c_out, 1, bias=False)]
    layers = [*conv, nn.BatchNorm2d(c_out), nn.ReLU()]
    if design == "separable+se":
        layers.append(SqueezeExcite(c_out, reduction=4))
    return nn.Sequential(*layers)


def small_cifar_net(design: str = "standard", widths=(32, 64, 128), blocks_per_stage: int = 2,
                    num_classes: int = 10) -> nn.Sequential:
    """A small CIFAR-10 CNN whose 3x3 convolutions are ``design``: one of :data:`SMALL_NET_DESIGNS`.

    A standard 3x3 stem (3 -> ``widths[0]``, BN, ReLU), then for each width a stage of
    ``blocks_per_stage`` blocks (the first of every stage after the first has stride 2), global average
    pooling and a linear layer. ``"standard"`` blocks are 3x3 conv-BN-ReLU; ``"separable"`` blocks are
    depthwise 3x3-BN-ReLU then pointwise 1x1-BN-ReLU (MobileNet); ``"separable+se"`` adds a
    Squeeze-and-Excitation block (reduction 4) after each. Everything else is identical, so differences
    in accuracy, parameters and multiply-adds come from the convolution design alone.
    """
    if design not in SMALL_NET_DESIGNS:
        raise ValueError(f"design must be one of {SMALL_NET_DESIGNS}; got {design!r}")
    widths = [positive_int(w, "width") for w in widths]
    blocks_per_stage = positive_int(blocks_per_stage, "blocks_per_stage")
    layers = [nn.Conv2d(3, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()]
    c_in = widths[0]
    for s, width in enumerate(widths):
        for b in range(blocks_per_stage):
            layers.append(_small_block(c_in, width, 2 if (s > 0 and b == 0) else 1, design))
            c_in = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, positive_int(num_classes, "num_classes"))]
    return nn.Sequential(*layers)


def load_small_cifar_net(design: str):
    """The committed seed-0 :func:`small_cifar_net` of ``design`` and its training log: ``(model, log)``.

    Trained by ``scripts/train_efficient_cnns.py``; the model takes pixels in [0, 1] (a
    :class:`helpers.torch.models.Normalize` with the training statistics comes first) and is in eval mode.
    ``log["runs"]`` holds the test accuracy of every seed.
    """
    from helpers.torch.checkpoints import load_checkpoint
    from helpers.torch.models import Normalize

    if design not in SMALL_NET_DESIGNS:
        raise ValueError(f"design must be one of {SMALL_NET_DESIGNS}; got {design!r}")
    state, log = load_checkpoint(f"efficient_cnn_{design.replace('+', '_')}")
    model = nn.Sequential(Normalize(log["data"]["mean"], log["data"]["std"]),
                          small_cifar_net(design, widths=log["model"]["widths"],
                                          blocks_per_stage=log["model"]["blocks_per_stage"]))
    model.load_state_dict(state)
    return model.eval(), log
