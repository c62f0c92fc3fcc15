"""Adversarial examples in PyTorch: FGSM and PGD attacks, robust accuracy, adversarial training, a defence.

Every attack works in *pixel space*: ``x`` holds images in the range ``clamp = (lo, hi)``
(``(0, 1)`` by default) and the adversarial images stay in that range and within
``eps`` of ``x`` in the L-infinity norm (no pixel moves by more than ``eps``). A model
that expects normalized inputs is wrapped first, so that the attack still sees pixels::

    model = torch.nn.Sequential(Normalize(mean, std), net)
    x_adv = pgd(model, x, y, eps=8 / 255, alpha=2 / 255, steps=10, seed=0)
    robust_accuracy(model, x, y, pgd, [0, 2 / 255, 8 / 255], alpha=2 / 255, steps=10, seed=0)

Untargeted attacks (``targeted=False``) *raise* the cross-entropy of the true label
``y``; targeted attacks take ``y`` as the target class and *lower* its cross-entropy.
The model is put in evaluation mode during an attack and returned to the mode it had.

:func:`adversarial_train_epoch` trains on PGD (or FGSM with random start) examples
made on the fly; :func:`mnist_classifier` is the small CNN that
``scripts/train_mnist_robust.py`` trains, once normally and once adversarially.
:class:`BitDepth` is an input-quantization "defence" whose gradient can be either the
true one (zero almost everywhere, which hides the model from a naive attack) or the
straight-through estimate used by an adaptive (BPDA) attack.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Normalize",
    "load_mnist_classifier",
    "BitDepth",
    "bit_depth",
    "fgsm",
    "pgd",
    "predict_labels",
    "accuracy",
    "robust_accuracy",
    "adversarial_train_epoch",
    "mnist_classifier",
]


# --------------------------------------------------------------------------------------------------- modules

class Normalize(nn.Module):
    """``(x - mean) / std`` per channel, as a layer: put it in front of a network trained on normalized inputs."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        mean_t = torch.as_tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1)
        std_t = torch.as_tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1)
        if mean_t.numel() != std_t.numel() or mean_t.numel() < 1:
            raise ValueError(f"mean and std need the same number (>= 1) of channels; got {mean!r}, {std!r}")
        if not bool(torch.all(std_t > 0)):
            raise ValueError(f"every std must be > 0; got {std!r}")
        self.register_buffer("mean", mean_t)
        self.register_buffer("std", std_t)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)


def bit_depth(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Quantize pixels in ``[0, 1]`` to ``2**bits`` evenly spaced levels (rounding to the nearest level)."""
    if not isinstance(bits, int) or isinstance(bits, bool) or not 1 <= bits <= 16:
        raise ValueError(f"bits must be an int between 1 and 16; got {bits!r}")
    levels = 2**bits - 1
    return torch.round(x * levels) / levels


class _RoundStraightThrough(torch.autograd.Function):
    """Forward: :func:`bit_depth`; backward: the identity (the straight-through estimator)."""

    @staticmethod
    def forward(ctx, x, bits):
        return bit_depth(x, bits)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, None


class BitDepth(nn.Module):
    """Bit-depth reduction of the input (:func:`bit_depth`) as a layer, for a "defended" model.

    ``straight_through=False``: the true gradient, which is zero almost everywhere
    (rounding is flat between levels), so gradient attacks get no signal.
    ``straight_through=True``: the same forward values, but the backward pass treats
    the quantizer as the identity (BPDA, Athalye et al. 2018), which is what an attacker
    who knows about the defence does.
    """

    def __init__(self, bits: int, straight_through: bool = False):
        super().__init__()
        bit_depth(torch.zeros(1), bits)  # validates bits
        self.bits = bits
        self.straight_through = bool(straight_through)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.straight_through:
            return _RoundStraightThrough.apply(x, self.bits)
        return bit_depth(x, self.bits)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, straight_through={self.straight_through}"


def mnist_classifier(width: int = 16, hidden: int = 128) -> nn.Sequential:
    """The small MNIST CNN of ``scripts/train_mnist_robust.py``; it takes pixels in ``[0, 1]``, shape (N, 1, 28, 28).

    ``Conv(1->w, 3x3) - ReLU - MaxPool 2 - Conv(w->2w, 3x3) - ReLU - MaxPool 2 -
    Flatten - Dense(2w*7*7 -> hidden) - ReLU - Dense(hidden -> 10)``.
    """
    if not isinstance(width, int) or width < 1 or not isinstance(hidden, int) or hidden < 1:
        raise ValueError(f"width and hidden must be positive ints; got {width!r}, {hidden!r}")
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(2 * width * 7 * 7, hidden), nn.ReLU(), nn.Linear(hidden, 10),
    )


def load_mnist_classifier(name: str):
    """A committed :func:`mnist_classifier` checkpoint (e.g. ``"mnist_cnn_standard"``), in eval mode, and its log.

    Returns ``(model, log)``; the weights are loaded strictly, so every name and
    shape must match today's model. See :func:`helpers.checkpoints.load_checkpoint`.
    """
    from helpers.checkpoints import load_checkpoint

    state, log = load_checkpoint(name)
    model = mnist_classifier(width=log["model"]["width"], hidden=log["model"]["hidden"])
    model.load_state_dict(state)
    return model.eval(), log


# --------------------------------------------------------------------------------------------------- checks

def _check_clamp(clamp) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in clamp)
    except (TypeError, ValueError):
        raise ValueError(f"clamp must be a pair (lo, hi) of numbers; got {clamp!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"clamp must be finite with lo < hi; got {clamp!r}")
    return lo, hi


def _check_number(name: str, value, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be {'> 0' if positive else '>= 0'}; got {value!r}")
    return float(value)


def _check_batch(model, x, y, clamp) -> tuple[torch.Tensor, torch.Tensor, float, float]:
    if not callable(model):
        raise ValueError(f"model must be callable (an nn.Module); got {type(model).__name__}")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError(f"x must be a floating-point torch.Tensor of images; got {type(x).__name__}"
                         f"{'' if not isinstance(x, torch.Tensor) else ' ' + str(x.dtype)}")
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"x must be a non-empty batch (N, ...); got shape {tuple(x.shape)}")
    y = torch.as_tensor(y, device=x.device)
    if y.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8) or y.shape != (len(x),):
        raise ValueError(f"y must hold one integer label per image, shape ({len(x)},); got {y.dtype} "
                         f"{tuple(y.shape)}")
    lo, hi = _check_clamp(clamp)
    tol = 1e-6 * max(1.0, hi - lo)
    x_min, x_max = float(x.min()), float(x.max())
    if x_min < lo - tol or x_max > hi + tol:
        raise ValueError(f"x must lie in the pixel range clamp=({lo:g}, {hi:g}); its values span "
                         f"[{x_min:.4g}, {x_max:.4g}] (normalize inside the model, e.g. with Normalize)")
    return x, y.long(), lo, hi


class _EvalMode:
    """Context manager: the model in eval mode, its parameters without gradients; both restored after."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.training = getattr(self.model, "training", None)
        self.params = [p for p in self.model.parameters() if p.requires_grad] \
            if isinstance(self.model, nn.Module) else []
        if isinstance(self.model, nn.Module):
            self.model.eval()
        for p in self.params:
            p.requires_grad_(False)
        return self.model

    def __exit__(self, *exc):
        for p in self.params:
            p.requires_grad_(True)
        if self.training is not None:
            self.model.train(self.training)
        return False


def _input_gradient(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d(sum of cross-entropies)/dx: each image's gradient does not depend on the rest of the batch."""
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x), y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    return grad


# --------------------------------------------------------------------------------------------------- attacks

def fgsm(model, x: torch.Tensor, y, eps: float, targeted: bool = False, clamp=(0.0, 1.0)) -> torch.Tensor:
    """Fast Gradient Sign Method (Goodfellow et al. 2015): one step of size ``eps`` along the gradient's sign.

    Untargeted: ``x + eps * sign(dL(x, y)/dx)``; targeted (``y`` = the target classes):
    ``x - eps * sign(dL(x, y)/dx)``; then clipped to ``clamp``. Returns a new tensor
    (detached, same shape and dtype as ``x``); ``eps=0`` returns a copy of ``x``.
    Raises ``ValueError`` for ``eps < 0``, ``x`` outside ``clamp`` or labels that do not fit ``x``.
    """
    x, y, lo, hi = _check_batch(model, x, y, clamp)
    eps = _check_number("eps", eps)
    if eps == 0:
        return x.detach().clone()
    with _EvalMode(model):
        grad = _input_gradient(model, x, y)
    direction = -1.0 if targeted else 1.0
    return (x.detach() + direction * eps * grad.sign()).clamp(lo, hi)


def pgd(model, x: torch.Tensor, y, eps: float, alpha: float | None = None, steps: int = 10,
        random_start: bool = True, targeted: bool = False, clamp=(0.0, 1.0), seed: int | None = 0) -> torch.Tensor:
    """Projected Gradient Descent in the L-infinity ball (Madry et al. 2018): iterated FGSM with projection.

    Starts at ``x`` plus uniform noise in ``[-eps, eps]`` (``random_start``, drawn from
    ``seed`` with its own generator, so the global random state is untouched; ``seed=None``
    uses the global generator), then ``steps`` times: a step of size ``alpha`` along the
    sign of the gradient (away from ``y``, or towards it when ``targeted``), projection
    back into ``[x - eps, x + eps]`` and clipping to ``clamp``. ``alpha`` defaults to
    ``2.5 * eps / steps``. Returns the adversarial images (detached); ``eps=0`` returns a copy of ``x``.
    """
    x, y, lo, hi = _check_batch(model, x, y, clamp)
    eps = _check_number("eps", eps)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1; got {steps!r}")
    alpha = 2.5 * eps / steps if alpha is None else _check_number("alpha", alpha, positive=True)
    x0 = x.detach()
    if eps == 0:
        return x0.clone()
    if random_start:
        if seed is None:
            noise = torch.rand(x0.shape, dtype=x0.dtype, device=x0.device)
        else:
            gen = torch.Generator(device=x0.device).manual_seed(int(seed))
            noise = torch.rand(x0.shape, dtype=x0.dtype, device=x0.device, generator=gen)
        x_adv = (x0 + (2 * noise - 1) * eps).clamp(lo, hi)
    else:
        x_adv = x0.clone()
    direction = -1.0 if targeted else 1.0
    with _EvalMode(model):
        for _ in range(steps):
            grad = _input_gradient(model, x_adv, y)
            x_adv = x_adv + direction * alpha * grad.sign()
            x_adv = torch.max(torch.min(x_adv, x0 + eps), x0 - eps).clamp(lo, hi)
    return x_adv.detach()


# --------------------------------------------------------------------------------------------------- measuring

def predict_labels(model, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """The model's predicted class for every image of ``x`` (eval mode, no gradients), in batches."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1; got {batch_size!r}")
    with _EvalMode(model), torch.no_grad():
        return torch.cat([model(x[i:i + batch_size]).argmax(dim=1) for i in range(0, len(x), batch_size)])


def accuracy(model, x: torch.Tensor, y, batch_size: int = 500) -> float:
    """Fraction of images of ``x`` whose predicted class is ``y``."""
    y = torch.as_tensor(y)
    if y.shape != (len(x),):
        raise ValueError(f"y must have shape ({len(x)},); got {tuple(y.shape)}")
    return float((predict_labels(model, x, batch_size).cpu() == y.cpu()).float().mean())


def robust_accuracy(model, x: torch.Tensor, y, attack: Callable, epsilons: Iterable[float], batch_size: int = 256,
                    **attack_kwargs) -> dict[float, float]:
    """Accuracy on adversarial images for every ``eps`` of ``epsilons``: ``{eps: accuracy}``.

    ``attack(model, xb, yb, eps, **attack_kwargs)`` (e.g. :func:`fgsm` or :func:`pgd`)
    is run on batches of ``batch_size`` images; an image counts as correct when the
    model still predicts ``y`` on its adversarial version. ``eps=0`` is the clean accuracy.
    For :func:`pgd` with ``alpha`` left out, the step size scales with each ``eps``.
    """
    if not callable(attack):
        raise ValueError(f"attack must be a function like fgsm or pgd; got {attack!r}")
    epsilons = [_check_number("eps", e) for e in epsilons]
    if not epsilons:
        raise ValueError("epsilons is empty: give at least one eps")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1; got {batch_size!r}")
    x, y, _, _ = _check_batch(model, x, y, attack_kwargs.get("clamp", (0.0, 1.0)))
    result = {}
    for eps in epsilons:
        correct = 0
        for i in range(0, len(x), batch_size):
            xb, yb = x[i:i + batch_size], y[i:i + batch_size]
            x_adv = attack(model, xb, yb, eps, **attack_kwargs)
            correct += int((predict_labels(model, x_adv, batch_size) == yb).sum())
        result[eps] = correct / len(x)
    return result


# --------------------------------------------------------------------------------------------------- training

def adversarial_train_epoch(model, loader, optimizer, eps: float, alpha: float | None = None, steps: int = 5,
                            random_start: bool = True, clamp=(0.0, 1.0), scheduler=None, seed: int = 0,
                            attack: str = "pgd") -> dict[str, float]:
    """One epoch of adversarial training (Madry et al.): every batch is replaced by its attacked version.

    For each ``(xb, yb)`` of ``loader`` the attack is made against the current weights
    (``attack="pgd"``: :func:`pgd` with ``steps`` steps of ``alpha``; ``attack="fgsm"``:
    one step of ``alpha``, default ``1.25 * eps``, from a random start, as in Wong et al.
    2020, "Fast is better than free"), then one optimizer step is taken on the cross-entropy
    of the adversarial batch. ``scheduler.step()`` is called after every batch if given.
    The random starts are seeded from ``seed`` and the batch number.

    Returns ``{"loss", "adv_acc", "seconds"}``: the mean training loss and the accuracy on the
    adversarial batches (both measured while the weights changed), and the epoch's wall time.
    """
    eps = _check_number("eps", eps)
    if attack not in ("pgd", "fgsm"):
        raise ValueError(f"attack must be 'pgd' or 'fgsm'; got {attack!r}")
    start = time.perf_counter()
    total_loss, correct, seen = 0.0, 0, 0
    for b, (xb, yb) in enumerate(loader):
        if attack == "pgd":
            x_adv = pgd(model, xb, yb, eps, alpha=alpha, steps=steps, random_start=random_start, clamp=clamp,
                        seed=seed * 100_003 + b)
        else:
            step = 1.25 * eps if alpha is None else alpha
            x_adv = pgd(model, xb, yb, eps, alpha=step, steps=1, random_start=True, clamp=clamp,
                        seed=seed * 100_003 + b) if eps > 0 else xb
        model.train()
        logits = model(x_adv)
        loss = F.cross_entropy(logits, yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total_loss += float(loss.detach()) * len(yb)
        correct += int((logits.argmax(dim=1) == yb).sum())
        seen += len(yb)
    if seen == 0:
        raise ValueError("the loader yielded no batches")
    return {"loss": total_loss / seen, "adv_acc": correct / seen, "seconds": time.perf_counter() - start}
