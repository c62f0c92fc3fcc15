"""Classic CNN architectures and cheaper convolutions: counting, building, comparing.

* Formulas: :func:`conv_params`, :func:`conv_flops`, :func:`separable_cost_ratio`.
* Measurement of a PyTorch model: :func:`count_params`, :func:`count_macs`,
  :func:`fc_param_share`, :func:`summarize`.
* Building blocks: :func:`lenet5`, :class:`Inception` (with or without the 1x1
  bottleneck), :func:`separable_conv` (depthwise + pointwise), :class:`SqueezeExcite`.
* NumPy references: :func:`pointwise_conv_numpy`, :func:`depthwise_conv_numpy`,
  :func:`separable_conv_numpy`, built on :func:`helpers.conv.conv2d`.

FLOPs are counted as **multiply-adds** (MACs): one multiplication plus one
addition is one unit. ``torch.utils.flop_counter.FlopCounterMode`` counts the
two separately, so its number is twice ours; :func:`count_macs` divides by 2.
Only convolutions and matrix products are counted (as that counter does);
activations, pooling and normalization are cheap by comparison.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from helpers.conv import conv2d
from helpers.timing import median_time

__all__ = [
    "conv_params",
    "conv_flops",
    "separable_cost_ratio",
    "count_params",
    "count_macs",
    "fc_param_share",
    "summarize",
    "lenet5",
    "Inception",
    "separable_conv",
    "SqueezeExcite",
    "pointwise_conv_numpy",
    "depthwise_conv_numpy",
    "separable_conv_numpy",
]


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_groups(c_in: int, c_out: int, groups: int) -> None:
    if c_in % groups or c_out % groups:
        raise ValueError(f"groups={groups} must divide both c_in={c_in} and c_out={c_out}")


def conv_params(c_in: int, c_out: int, k: int, groups: int = 1, bias: bool = True) -> int:
    """Number of learnable parameters of a ``k x k`` convolution, as ``nn.Conv2d`` stores them.

    Each of the ``c_out`` filters sees ``c_in / groups`` input channels through a
    ``k x k`` window: ``c_out * (c_in / groups) * k * k`` weights, plus ``c_out``
    biases when ``bias`` is true.
    """
    c_in, c_out, k, groups = (_positive_int(v, n) for v, n in
                              ((c_in, "c_in"), (c_out, "c_out"), (k, "k"), (groups, "groups")))
    _check_groups(c_in, c_out, groups)
    return c_out * (c_in // groups) * k * k + (c_out if bias else 0)


def conv_flops(c_in: int, c_out: int, k: int, out_h: int, out_w: int, groups: int = 1) -> int:
    """Multiply-adds of a ``k x k`` convolution producing an ``out_h x out_w`` map (one image).

    Every output value is a dot product of length ``(c_in / groups) * k * k``, and
    there are ``c_out * out_h * out_w`` of them. The bias additions are not
    counted (as in PyTorch's flop counter).
    """
    c_in, c_out, k, groups, out_h, out_w = (
        _positive_int(v, n) for v, n in ((c_in, "c_in"), (c_out, "c_out"), (k, "k"), (groups, "groups"),
                                         (out_h, "out_h"), (out_w, "out_w")))
    _check_groups(c_in, c_out, groups)
    return c_out * out_h * out_w * (c_in // groups) * k * k


def separable_cost_ratio(c_out: int, k: int) -> float:
    """Cost of depthwise-separable over standard ``k x k`` convolution: ``1 / c_out + 1 / k**2``.

    Holds for both weights (without bias) and multiply-adds, for any ``c_in`` and
    output size (stride 1 in the depthwise part).
    """
    c_out, k = _positive_int(c_out, "c_out"), _positive_int(k, "k")
    return 1.0 / c_out + 1.0 / k**2


def count_params(model) -> int:
    """Total number of parameters of a PyTorch module (trainable or not)."""
    if not hasattr(model, "parameters"):
        raise ValueError(f"count_params needs a torch.nn.Module, got {type(model).__name__}")
    return int(sum(p.numel() for p in model.parameters()))


def count_macs(model, input_shape) -> int:
    """Multiply-adds of one forward pass of ``model`` on a zero tensor of ``input_shape``.

    Uses ``torch.utils.flop_counter.FlopCounterMode`` (convolutions, linear layers,
    matrix products) and halves its count, which counts a multiply-add as 2 FLOPs.
    """
    shape = tuple(int(s) for s in input_shape)
    if len(shape) < 2 or min(shape) < 1:
        raise ValueError(f"input_shape must be a batch shape like (1, 3, 224, 224), got {input_shape!r}")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(shape))
    finally:
        model.train(was_training)
    return int(counter.get_total_flops()) // 2


def fc_param_share(model) -> float:
    """Fraction of the parameters of ``model`` that sit in fully connected (``nn.Linear``) layers."""
    total = count_params(model)
    if total == 0:
        raise ValueError("the model has no parameters")
    fc = sum(count_params(m) for m in model.modules() if isinstance(m, nn.Linear))
    return fc / total


def summarize(model, input_shape, repeats: int = 3) -> dict:
    """Parameters, GMACs, fully connected share and median CPU latency (seconds) for one input.

    The latency is :func:`helpers.timing.median_time` of ``repeats`` forward passes
    in eval mode without gradients, after one warm-up pass; it depends on the
    machine and on ``torch.get_num_threads()``.
    """
    x = torch.randn(tuple(int(s) for s in input_shape), generator=torch.Generator().manual_seed(0))
    model.eval()

    def forward():
        with torch.no_grad():
            model(x)

    return {"params": count_params(model), "gmacs": count_macs(model, input_shape) / 1e9,
            "fc_share": fc_param_share(model), "seconds": median_time(forward, repeats=repeats, warmup=1)}


def lenet5(num_classes: int = 10):
    """LeNet-5 (LeCun et al., 1998) for 1 x 32 x 32 inputs, with ReLU and max pooling.

    conv 5x5 (6) -> pool -> conv 5x5 (16) -> pool -> fc 120 -> fc 84 -> fc ``num_classes``:
    61,706 parameters for 10 classes. (The original used tanh-like units, average
    pooling and a partially connected C3 layer; this is the common modern variant.)
    """
    num_classes = _positive_int(num_classes, "num_classes")
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
            _positive_int(v, n)

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
    c_in, c_out, k = _positive_int(c_in, "c_in"), _positive_int(c_out, "c_out"), _positive_int(k, "k")
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
        channels, reduction = _positive_int(channels, "channels"), _positive_int(reduction, "reduction")
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


def _check_4d(x, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W), got {x.shape}")
    return x


def pointwise_conv_numpy(x, w, b=None) -> np.ndarray:
    """A 1x1 convolution as a per-pixel dense layer: ``out[n, f, i, j] = sum_c w[f, c] x[n, c, i, j] + b[f]``.

    ``w`` may be ``(F, C)`` or ``(F, C, 1, 1)``. Implemented with ``np.einsum``,
    no windows at all: the same ``F x C`` matrix multiplies every pixel's channel vector.
    """
    x = _check_4d(x, "x")
    w = np.asarray(w)
    if w.ndim == 4:
        if w.shape[2:] != (1, 1):
            raise ValueError(f"a pointwise kernel must be 1x1, got {w.shape}")
        w = w[:, :, 0, 0]
    if w.ndim != 2 or w.shape[1] != x.shape[1]:
        raise ValueError(f"w must be (F, {x.shape[1]}) to match x's channels, got {w.shape}")
    out = np.einsum("fc,nchw->nfhw", w, x)
    if b is not None:
        out = out + np.asarray(b)[None, :, None, None]
    return out


def depthwise_conv_numpy(x, w, b=None, stride=1, padding=0) -> np.ndarray:
    """Depthwise convolution (``groups = C``) with :func:`helpers.conv.conv2d`, one channel at a time.

    ``w`` has shape ``(C, 1, KH, KW)``, as in ``nn.Conv2d(C, C, k, groups=C)``:
    channel ``c`` of the output is channel ``c`` of the input correlated with
    filter ``c``; channels never mix.
    """
    x = _check_4d(x, "x")
    w = _check_4d(w, "w")
    c = x.shape[1]
    if w.shape[:2] != (c, 1):
        raise ValueError(f"a depthwise kernel for {c} channels must be ({c}, 1, KH, KW), got {w.shape}")
    outs = [conv2d(x[:, i:i + 1], w[i:i + 1], None if b is None else np.asarray(b)[i:i + 1], stride, padding)
            for i in range(c)]
    return np.concatenate(outs, axis=1)


def separable_conv_numpy(x, w_dw, w_pw, b_dw=None, b_pw=None, padding=0) -> np.ndarray:
    """Depthwise-separable convolution in NumPy: :func:`depthwise_conv_numpy` then :func:`pointwise_conv_numpy`."""
    return pointwise_conv_numpy(depthwise_conv_numpy(x, w_dw, b_dw, padding=padding), w_pw, b_pw)
