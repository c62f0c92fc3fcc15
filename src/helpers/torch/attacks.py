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
The model is put in evaluation mode during an attack and every submodule gets its own
mode back afterwards (:func:`helpers.torch.modes.eval_mode`).

:func:`adversarial_train_epoch` trains on PGD (or FGSM with random start) examples
made on the fly; :func:`helpers.torch.models.mnist_classifier` is the small CNN that
``scripts/train_mnist_robust.py`` trains, once normally and once adversarially.
:class:`BitDepth` is an input-quantization "defence" whose gradient can be either the
true one (zero almost everywhere, which hides the model from a naive attack) or the
straight-through estimate used by an adaptive (BPDA) attack.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from helpers.checks import integer, number, positive_int
from helpers.torch.metrics import count_correct, predict_labels
from helpers.torch.modes import ensure_training, eval_mode

__all__ = ["BitDepth", "bit_depth", "fgsm", "pgd", "margin_loss", "robust_accuracy", "worst_case_accuracy",
           "adversarial_train_epoch"]


# --------------------------------------------------------------------------------------------------- modules


def bit_depth(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Quantize pixels in ``[0, 1]`` to ``2**bits`` evenly spaced levels (rounding to the nearest level)."""
    bits = integer(bits, "bits", minimum=1, maximum=16)
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


# --------------------------------------------------------------------------------------------------- checks

def _check_clamp(clamp) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in clamp)
    except (TypeError, ValueError):
        raise ValueError(f"clamp must be a pair (lo, hi) of numbers; got {clamp!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"clamp must be finite with lo < hi; got {clamp!r}")
    return lo, hi


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


def margin_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example margin loss of Carlini and Wagner: largest other logit minus the logit of ``y``.

    Positive exactly when the example is misclassified. Unlike the cross-entropy it does not
    saturate when the model is very confident, so an attack that raises it keeps a useful
    gradient where cross-entropy's gradient has vanished (a check for gradient masking).
    """
    if logits.ndim != 2 or y.shape != logits.shape[:1]:
        raise ValueError(f"logits must be (N, classes) and y (N,); got {tuple(logits.shape)} and {tuple(y.shape)}")
    correct = logits.gather(1, y[:, None])[:, 0]
    others = logits.scatter(1, y[:, None], float("-inf")).max(dim=1).values
    return others - correct


LOSSES = {"ce": lambda logits, y: F.cross_entropy(logits, y, reduction="sum"),
          "margin": lambda logits, y: margin_loss(logits, y).sum()}


# Images per forward-backward pass inside an attack. Each image's gradient does not depend on the rest of the
# batch, so slicing changes no number (tested) but keeps the activations in the CPU's cache: PGD-20 on two
# batches of 500 MNIST digits took 5.0-5.3 s in slices of 64-128 against 7.8 s whole (one thread).
GRADIENT_SLICE = 128


def _input_gradient(model, x: torch.Tensor, y: torch.Tensor, loss: str = "ce") -> torch.Tensor:
    """d(sum of per-example losses)/dx, computed on slices of ``GRADIENT_SLICE`` images."""
    grads = []
    for i in range(0, len(x), GRADIENT_SLICE):
        xs = x[i:i + GRADIENT_SLICE].detach().requires_grad_(True)
        grads.append(torch.autograd.grad(LOSSES[loss](model(xs), y[i:i + GRADIENT_SLICE]), xs)[0])
    return grads[0] if len(grads) == 1 else torch.cat(grads)


# --------------------------------------------------------------------------------------------------- attacks

def fgsm(model, x: torch.Tensor, y, eps: float, targeted: bool = False, clamp=(0.0, 1.0)) -> torch.Tensor:
    """Fast Gradient Sign Method (Goodfellow et al. 2015): one step of size ``eps`` along the gradient's sign.

    Untargeted: ``x + eps * sign(dL(x, y)/dx)``; targeted (``y`` = the target classes):
    ``x - eps * sign(dL(x, y)/dx)``; then clipped to ``clamp``. Returns a new tensor
    (detached, same shape and dtype as ``x``); ``eps=0`` returns a copy of ``x``.
    Raises ``ValueError`` for ``eps < 0``, ``x`` outside ``clamp`` or labels that do not fit ``x``.
    """
    x, y, lo, hi = _check_batch(model, x, y, clamp)
    eps = number(eps, "eps", low=0)
    if eps == 0:
        return x.detach().clone()
    with eval_mode(model, freeze=True):
        grad = _input_gradient(model, x, y)
    direction = -1.0 if targeted else 1.0
    return (x.detach() + direction * eps * grad.sign()).clamp(lo, hi)


def pgd(model, x: torch.Tensor, y, eps: float, alpha: float | None = None, steps: int = 10,
        random_start: bool = True, targeted: bool = False, clamp=(0.0, 1.0), seed: int | None = 0,
        loss: str = "ce") -> torch.Tensor:
    """Projected Gradient Descent in the L-infinity ball (Madry et al. 2018): iterated FGSM with projection.

    Starts at ``x`` plus uniform noise in ``[-eps, eps]`` (``random_start``, drawn from
    ``seed`` with its own generator, so the global random state is untouched; ``seed=None``
    uses the global generator), then ``steps`` times: a step of size ``alpha`` along the
    sign of the gradient (away from ``y``, or towards it when ``targeted``), projection
    back into ``[x - eps, x + eps]`` and clipping to ``clamp``. ``alpha`` defaults to
    ``2.5 * eps / steps``. ``loss="ce"`` ascends the cross-entropy, ``loss="margin"`` the
    Carlini-Wagner margin (:func:`margin_loss`). Returns the adversarial images (detached);
    ``eps=0`` returns a copy of ``x``.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}; got {loss!r}")
    x, y, lo, hi = _check_batch(model, x, y, clamp)
    eps = number(eps, "eps", low=0)
    steps = positive_int(steps, "steps")
    alpha = 2.5 * eps / steps if alpha is None else number(alpha, "alpha", low=0, low_open=True)
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
    with eval_mode(model, freeze=True):
        for _ in range(steps):
            grad = _input_gradient(model, x_adv, y, loss)
            x_adv = x_adv + direction * alpha * grad.sign()
            x_adv = torch.max(torch.min(x_adv, x0 + eps), x0 - eps).clamp(lo, hi)
    return x_adv.detach()


# --------------------------------------------------------------------------------------------------- measuring


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
    epsilons = [number(e, "eps", low=0) for e in epsilons]
    if not epsilons:
        raise ValueError("epsilons is empty: give at least one eps")
    batch_size = positive_int(batch_size, "batch_size")
    x, y, _, _ = _check_batch(model, x, y, attack_kwargs.get("clamp", (0.0, 1.0)))
    result = {}
    for eps in epsilons:
        correct = 0
        for i in range(0, len(x), batch_size):
            xb, yb = x[i:i + batch_size], y[i:i + batch_size]
            x_adv = attack(model, xb, yb, eps, **attack_kwargs)
            correct += int((predict_labels(model, x_adv) == yb).sum())
        result[eps] = correct / len(x)
    return result


def worst_case_accuracy(model, x: torch.Tensor, y, attacks: dict[str, Callable], batch_size: int = 500
                        ) -> dict[str, float]:
    """Accuracy under each attack of ``attacks`` and under all of them at once (the evaluation checklist).

    ``attacks`` maps a name to ``attack(xb, yb) -> adversarial xb`` (the attacker may use another
    model: a transfer attack). An image counts as correct under ``"all attacks"`` only if the
    model classifies every one of its adversarial versions correctly, so the per-image worst case
    is never above any single attack. Returns ``{name: accuracy, ..., "all attacks": accuracy}``.
    """
    if not attacks:
        raise ValueError("attacks is empty: give at least one name -> attack(x, y) function")
    batch_size = positive_int(batch_size, "batch_size")
    lo, hi = float(x.min()), float(x.max())
    x, y, _, _ = _check_batch(model, x, y, (lo, hi if hi > lo else lo + 1.0))   # any range: attacks check theirs
    survived = {name: torch.zeros(len(x), dtype=torch.bool) for name in attacks}
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        for name, attack in attacks.items():
            survived[name][i:i + batch_size] = (predict_labels(model, attack(xb, yb)) == yb).cpu()
    result = {name: float(ok.float().mean()) for name, ok in survived.items()}
    result["all attacks"] = float(torch.stack(list(survived.values())).all(dim=0).float().mean())
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
    The random starts are seeded from ``seed`` and the batch number. A model in eval
    mode is put in training mode; one already in training mode keeps each submodule's
    own mode (:func:`helpers.torch.modes.ensure_training`), also across the attacks.

    Returns ``{"loss", "adv_acc", "seconds"}``: the mean training loss and the accuracy on the
    adversarial batches (both measured while the weights changed), and the epoch's wall time.
    """
    eps = number(eps, "eps", low=0)
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
        ensure_training(model)
        logits = model(x_adv)
        loss = F.cross_entropy(logits, yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total_loss += float(loss.detach()) * len(yb)
        correct += count_correct(logits.detach(), yb)
        seen += len(yb)
    if seen == 0:
        raise ValueError("the loader yielded no batches")
    return {"loss": total_loss / seen, "adv_acc": correct / seen, "seconds": time.perf_counter() - start}
