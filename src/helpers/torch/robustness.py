"""Robustness experiments on the book's small MNIST CNN: a seeded adversarial-training run and the attack checklist.

:func:`train_adversarial` trains :func:`helpers.torch.models.mnist_classifier` from scratch on
adversarial examples made on the fly (:func:`helpers.torch.attacks.adversarial_train_epoch`, PGD or
FGSM with a random start), with Adam and a one-cycle learning rate, seeded so that the same arguments
give the same weights. :func:`attack_checklist` builds the attacks that check a robustness claim
(restarts, many small steps, the margin loss, a transfer attack from another model), ready for
:func:`helpers.torch.attacks.worst_case_accuracy`. :func:`survivors` and :func:`from_survivors` turn the
per-image outcome of an attack into a short string for a JSON log and back.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch.utils.data import DataLoader, TensorDataset

from helpers.checks import integer, number, positive_int
from helpers.torch.attacks import adversarial_train_epoch, pgd
from helpers.torch.metrics import predict_labels
from helpers.torch.models import mnist_classifier

__all__ = ["train_adversarial", "attack_checklist", "survival", "survivors", "from_survivors"]


def train_adversarial(x: torch.Tensor, y: torch.Tensor, eps: float, epochs: int, seed: int = 0,
                      attack: str = "fgsm", steps: int = 5, width: int = 16, hidden: int = 128,
                      batch_size: int = 128, max_lr: float = 3e-3) -> tuple[torch.nn.Module, dict]:
    """Train a fresh :func:`mnist_classifier` on adversarial examples at radius ``eps``; return ``(model, history)``.

    ``x`` holds pixels in ``[0, 1]`` of shape ``(N, 1, 28, 28)``, ``y`` the ``N`` labels. The weights
    are initialized after ``torch.manual_seed(seed)``, the batches of ``batch_size`` are shuffled by a
    generator seeded with ``seed``, and the optimizer is Adam (starting rate ``max_lr / 10``) with
    PyTorch's one-cycle schedule up to ``max_lr`` over all ``epochs``. Epoch ``e`` (from 0) calls
    ``adversarial_train_epoch(..., eps, attack=attack, steps=steps, seed=seed + e)``: ``"fgsm"`` is one
    step of ``1.25 * eps`` from a random start (Wong et al. 2020), ``"pgd"`` is ``steps`` steps of
    ``2.5 * eps / steps``. The model is returned in eval mode; ``history`` holds the per-epoch
    ``"loss"`` and ``"adv_acc"`` (on the adversarial training batches) and the training ``"seconds"``.
    Raises ``ValueError`` for images that are not ``(N, 1, 28, 28)`` pixels in ``[0, 1]``, labels that do
    not fit them, or arguments out of range.
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
        raise ValueError(f"x must be a float tensor of MNIST pixels, shape (N, 1, 28, 28); got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    if len(x) == 0 or float(x.min()) < 0 or float(x.max()) > 1:
        raise ValueError("x must hold at least one image with pixels in [0, 1]")
    if not isinstance(y, torch.Tensor) or y.dtype != torch.int64 or tuple(y.shape) != (len(x),):
        raise ValueError(f"y must be an int64 tensor of {len(x)} labels; got "
                         f"{(y.dtype, tuple(y.shape)) if isinstance(y, torch.Tensor) else type(y).__name__}")
    eps = number(eps, "eps", low=0, high=1)
    epochs, batch_size = positive_int(epochs, "epochs"), positive_int(batch_size, "batch_size")
    seed = integer(seed, "seed", minimum=0)
    max_lr = number(max_lr, "max_lr", low=0, low_open=True)
    if attack not in ("fgsm", "pgd"):
        raise ValueError(f"attack must be 'fgsm' or 'pgd'; got {attack!r}")
    torch.manual_seed(seed)
    model = mnist_classifier(width=width, hidden=hidden)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=max_lr / 10)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, epochs=epochs,
                                                    steps_per_epoch=len(loader))
    history = {"loss": [], "adv_acc": []}
    start = time.perf_counter()
    for epoch in range(epochs):
        stats = adversarial_train_epoch(model, loader, optimizer, eps, attack=attack, steps=steps,
                                        scheduler=scheduler, seed=seed + epoch)
        history["loss"].append(stats["loss"])
        history["adv_acc"].append(stats["adv_acc"])
    history["seconds"] = time.perf_counter() - start
    return model.eval(), history


def attack_checklist(model, reference, eps: float, steps: int = 20, restarts: int = 3, long_steps: int = 100,
                     long_alpha: float = 0.01) -> dict[str, Callable]:
    """The attacks that test a robustness claim at radius ``eps``: ``{name: attack(x, y) -> x_adv}``.

    PGD with ``steps`` steps (cross-entropy, step ``2.5 * eps / steps``) from ``restarts`` random
    starts (seeds 0, 1, ...), PGD with ``long_steps`` steps of ``long_alpha`` (seed ``restarts``), PGD
    on the Carlini-Wagner margin loss (seed 0), and a transfer attack: PGD made on ``reference`` (a
    model with honest gradients, e.g. a normally trained one) and shown to ``model``. Pass the result to
    :func:`helpers.torch.attacks.worst_case_accuracy`, which also reports the per-image worst case.
    """
    eps = number(eps, "eps", low=0, low_open=True)
    steps, restarts, long_steps = (positive_int(v, n) for v, n in ((steps, "steps"), (restarts, "restarts"),
                                                                   (long_steps, "long_steps")))
    long_alpha = number(long_alpha, "long_alpha", low=0, low_open=True)
    if not (callable(model) and callable(reference)):
        raise ValueError("model and reference must be callable models (nn.Module)")

    def restart(seed):
        return lambda xb, yb: pgd(model, xb, yb, eps, steps=steps, seed=seed)

    attacks = {f"PGD-{steps}, cross-entropy": restart(0)}
    attacks.update({f"PGD-{steps}, restart {k + 1}": restart(k) for k in range(1, restarts)})
    attacks[f"PGD-{long_steps}, steps of {long_alpha:g}"] = \
        lambda xb, yb: pgd(model, xb, yb, eps, steps=long_steps, alpha=long_alpha, seed=restarts)
    attacks[f"PGD-{steps}, margin (CW) loss"] = lambda xb, yb: pgd(model, xb, yb, eps, steps=steps, loss="margin",
                                                                   seed=0)
    attacks["transfer from the reference model"] = lambda xb, yb: pgd(reference, xb, yb, eps, steps=steps, seed=0)
    return attacks


def survival(model, x: torch.Tensor, y: torch.Tensor, attacks: dict[str, Callable], batch_size: int = 500
             ) -> dict[str, torch.Tensor]:
    """Which images each attack fails to break: ``{name: bool tensor (N,)}``, True where ``model`` is still right.

    Every ``attack(xb, yb)`` of ``attacks`` runs on consecutive batches of ``batch_size`` images (the
    random starts of :func:`helpers.torch.attacks.pgd` are drawn per batch, so the batch size is part of
    the experiment). The mean of a vector is the attack's robust accuracy, the mean of their logical
    *and* the per-image worst case (as :func:`helpers.torch.attacks.worst_case_accuracy`).
    """
    if not attacks:
        raise ValueError("attacks is empty: give at least one name -> attack(x, y) function")
    batch_size = positive_int(batch_size, "batch_size")
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or len(x) == 0 or not isinstance(y, torch.Tensor) \
            or tuple(y.shape) != (len(x),):
        raise ValueError("x must be a non-empty batch of images (N, ...) and y a tensor of N labels")
    result = {}
    for name, attack in attacks.items():
        parts = [predict_labels(model, attack(x[i:i + batch_size], y[i:i + batch_size]))
                 == y[i:i + batch_size] for i in range(0, len(x), batch_size)]
        result[name] = torch.cat(parts).cpu()
    return result


def survivors(correct) -> str:
    """A boolean vector (one entry per image: still classified correctly) as a string of '1' and '0' for a log."""
    flags = torch.as_tensor(correct)
    if flags.ndim != 1 or flags.dtype != torch.bool:
        raise ValueError(f"correct must be a 1-D boolean vector; got {flags.dtype} {tuple(flags.shape)}")
    return "".join("1" if v else "0" for v in flags.tolist())


def from_survivors(text: str) -> torch.Tensor:
    """The inverse of :func:`survivors`: a string of '1' and '0' -> a boolean tensor."""
    if not isinstance(text, str) or not text or set(text) - {"0", "1"}:
        raise ValueError(f"expected a non-empty string of '0' and '1'; got {str(text)[:40]!r}")
    return torch.tensor([c == "1" for c in text], dtype=torch.bool)
