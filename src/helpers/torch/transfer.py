"""Transfer learning in PyTorch: freeze, replace the head, extract features, fine-tune.

A network trained on one task (the *source*, here CIFAR-10) is reused on another
(the *target*) in one of three ways: as a fixed feature extractor with a new
linear classifier on top (:func:`extract_features` + :func:`linear_probe`), by
fine-tuning some of its layers (:func:`freeze` with ``except_``), or by
fine-tuning all of them with a smaller learning rate for the pretrained
backbone than for the new head (:func:`param_groups_with_lr`). :func:`fine_tune`
is a short seeded training loop on tensors that keeps the batch-norm layers of
frozen parts in eval mode (:func:`helpers.torch.modes.set_frozen_bn_eval`) and
gives every submodule its own mode back at the end.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from helpers.checks import number, positive_int
from helpers.torch.modes import eval_mode, preserve_mode, set_frozen_bn_eval

__all__ = ["digits_to_rgb32", "freeze", "replace_head", "last_linear", "extract_features",
           "param_groups_with_lr", "fine_tune", "linear_probe", "small_cifar_cnn", "train_small_cnn",
           "pretrained_cifar_resnet", "transfer_run"]


def digits_to_rgb32(x) -> torch.Tensor:
    """uint8 grey digits ``(N, 28, 28)`` -> float ``(N, 3, 32, 32)`` in [0, 1].

    Each digit is zero-padded by 2 pixels on every side and its grey copied into the 3 colour channels.
    """
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise ValueError(f"expected digits of shape (N, 28, 28); got {x.shape}")
    t = torch.from_numpy(x.astype(np.float32) / 255.0)
    return F.pad(t, (2, 2, 2, 2))[:, None].repeat(1, 3, 1, 1)


def freeze(model: nn.Module, except_=()) -> nn.Module:
    """Set ``requires_grad=False`` on every parameter except those whose name starts with a prefix in ``except_``.

    ``except_`` is a string or a sequence of name prefixes (e.g. ``("blocks.6", "head")``);
    a prefix that matches no parameter raises ``ValueError`` (usually a typo). Returns ``model``.
    """
    prefixes = (except_,) if isinstance(except_, str) else tuple(except_)
    names = [name for name, _ in model.named_parameters()]
    for prefix in prefixes:
        if not any(n == prefix or n.startswith(prefix + ".") for n in names):
            raise ValueError(f"no parameter name starts with {prefix!r}; names look like {names[:3]}")
    for name, p in model.named_parameters():
        p.requires_grad_(any(name == pre or name.startswith(pre + ".") for pre in prefixes))
    return model


def last_linear(model: nn.Module) -> tuple[str, nn.Linear]:
    """``(name, module)`` of the last ``nn.Linear`` of ``model`` (its classifier); ``ValueError`` if there is none."""
    found = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not found:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer to use as a head")
    return found[-1]


def replace_head(model: nn.Module, classes: int, seed: int | None = None) -> nn.Linear:
    """Replace the last ``nn.Linear`` of ``model`` by a fresh one with ``classes`` outputs; return the new layer.

    The new layer is trainable (whatever was frozen before) and initialized with
    PyTorch's default, seeded with ``seed`` when given.
    """
    classes = positive_int(classes, "classes")
    name, old = last_linear(model)
    if seed is not None:
        torch.manual_seed(seed)
    new = nn.Linear(old.in_features, classes).to(old.weight.device)
    parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
    setattr(parent, name.rsplit(".", 1)[-1], new)
    return new


@torch.no_grad()
def extract_features(model: nn.Module, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Penultimate features: the input of the model's last ``nn.Linear`` (after its pooling), ``(N, D)``.

    Runs in eval mode (batch norm uses its stored statistics) and restores every
    submodule's previous mode (:func:`helpers.torch.modes.eval_mode`).
    """
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"x must be a non-empty batch; got shape {tuple(x.shape)}")
    batch_size = positive_int(batch_size, "batch_size")
    _, head = last_linear(model)
    captured = []
    hook = head.register_forward_hook(lambda mod, inputs, out: captured.append(inputs[0].detach().flatten(1)))
    try:
        with eval_mode(model):
            for i in range(0, len(x), batch_size):
                model(x[i:i + batch_size])
    finally:
        hook.remove()
    return torch.cat(captured)


def param_groups_with_lr(model: nn.Module, lrs: dict, default: float) -> list[dict]:
    """Optimizer parameter groups with a learning rate per name prefix (discriminative learning rates).

    ``lrs`` maps a parameter-name prefix to its learning rate (the longest matching
    prefix wins); other parameters get ``default``. Frozen parameters are left out.
    Example: ``param_groups_with_lr(net, {"head": 0.05}, default=0.005)``.
    """
    lrs = {prefix: number(lr, f"learning rate for {prefix!r}", low=0) for prefix, lr in lrs.items()}
    default = number(default, "default learning rate", low=0)
    names = [name for name, _ in model.named_parameters()]
    for prefix in lrs:
        if not any(n == prefix or n.startswith(prefix + ".") for n in names):
            raise ValueError(f"no parameter name starts with {prefix!r}")
    groups: dict[float, list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        matches = [pre for pre in lrs if name == pre or name.startswith(pre + ".")]
        lr = lrs[max(matches, key=len)] if matches else default
        groups.setdefault(float(lr), []).append(p)
    if not groups:
        raise ValueError("the model has no trainable parameters")
    return [{"params": ps, "lr": lr} for lr, ps in groups.items()]


def fine_tune(model: nn.Module, x: torch.Tensor, y, optimizer, steps: int, batch_size: int = 32, seed: int = 0,
              frozen_bn_eval: bool = True) -> list[float]:
    """Train ``model`` for ``steps`` mini-batch steps on the tensors ``(x, y)``; return the loss of every step.

    Mini-batches are drawn from a reshuffle of the data with ``seed`` every pass.
    The model trains in training mode; with ``frozen_bn_eval`` the batch norms of
    frozen parts stay in eval mode and keep their pretrained statistics
    (:func:`helpers.torch.modes.set_frozen_bn_eval`). Afterwards every submodule is
    back in the mode it had before the call (:func:`helpers.torch.modes.preserve_mode`).
    """
    y = torch.as_tensor(y)
    if len(x) == 0 or y.shape != (len(x),):
        raise ValueError(f"x and y must be non-empty with y of shape ({len(x)},); got {tuple(y.shape)}")
    steps, batch_size = positive_int(steps, "steps"), positive_int(batch_size, "batch_size")
    gen = torch.Generator().manual_seed(seed)
    losses, order, pos = [], torch.randperm(len(x), generator=gen), 0
    with preserve_mode(model):
        model.train()
        if frozen_bn_eval:
            set_frozen_bn_eval(model)
        for _ in range(steps):
            if pos >= len(x):
                order, pos = torch.randperm(len(x), generator=gen), 0
            idx = order[pos:pos + batch_size]
            pos += batch_size
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
    return losses


def linear_probe(features: torch.Tensor, labels, classes: int, steps: int = 200, lr: float = 0.5,
                 weight_decay: float = 1e-3, solver: str = "gd") -> nn.Linear:
    """Multinomial logistic regression on fixed ``features``; returns the ``nn.Linear``.

    Starts from zero weights, so the result is deterministic. Loss: mean cross-entropy
    plus ``weight_decay / 2 * ||W||^2`` (the bias is not decayed). ``solver="gd"``: ``steps``
    full-batch gradient-descent steps of size ``lr`` (a fixed, cheap budget; standardize the
    features first, mean 0 and std 1 per feature, so one learning rate suits all of them).
    ``solver="lbfgs"``: at most ``steps`` iterations of ``torch.optim.LBFGS`` with a strong-Wolfe
    line search (``lr`` unused), which gets close to the minimum of this convex loss in
    about 100 iterations where gradient descent needs many thousands of steps.
    """
    if solver not in ("gd", "lbfgs"):
        raise ValueError(f"solver must be 'gd' or 'lbfgs'; got {solver!r}")
    labels = torch.as_tensor(labels)
    if features.ndim != 2 or labels.shape != (len(features),):
        raise ValueError(f"features must be (N, D) and labels (N,); got {tuple(features.shape)}, "
                         f"{tuple(labels.shape)}")
    steps, classes = positive_int(steps, "steps"), positive_int(classes, "classes")
    lr = number(lr, "lr", low=0, low_open=True)
    weight_decay = number(weight_decay, "weight_decay", low=0)
    head = nn.Linear(features.shape[1], classes).to(features.dtype)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    if solver == "lbfgs":
        opt = torch.optim.LBFGS(head.parameters(), lr=1, max_iter=steps, history_size=20,
                                line_search_fn="strong_wolfe", tolerance_grad=1e-9, tolerance_change=1e-12)

        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(head(features), labels) + 0.5 * weight_decay * (head.weight ** 2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        return head.eval()
    for _ in range(steps):
        loss = F.cross_entropy(head(features), labels) + 0.5 * weight_decay * (head.weight ** 2).sum()
        head.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in head.parameters():
                p -= lr * p.grad
    return head.eval()


def small_cifar_cnn(n_classes: int = 5, seed: int = 0) -> nn.Sequential:
    """The transfer lesson's from-scratch baseline: conv 32 - pool - conv 64 - pool - dense 128 - ``n_classes``.

    3x3 convolutions with padding 1 and ReLU on (N, 3, 32, 32) images; the weights come from
    ``torch.manual_seed(seed)``.
    """
    n_classes = positive_int(n_classes, "n_classes")
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 8 * 8, 128), nn.ReLU(),
                         nn.Linear(128, n_classes))


def train_small_cnn(x: torch.Tensor, y: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor, seed: int,
                    n_classes: int = 5, steps: int = 300, batch_size: int = 50, lr: float = 2e-3,
                    model=None, flip: bool = True) -> float:
    """Train a small CNN from scratch on few images and return its accuracy on ``(x_test, y_test)``.

    ``steps`` Adam steps on batches drawn with replacement, each image shifted by up to 2 pixels
    (:func:`helpers.torch.loaders.random_shift`) and, with ``flip``, flipped left-right with probability
    1/2; the batches, shifts and flips come from ``torch.Generator().manual_seed(seed)``.
    The network is :func:`small_cifar_cnn` (weights from ``seed``; pixels in [0, 1], shape
    (N, 3, 32, 32), labels in ``0 .. n_classes - 1``), or ``model()`` called after
    ``torch.manual_seed(seed)`` for another architecture (any (N, C, H, W) input it accepts).
    """
    from helpers.torch.loaders import random_shift
    from helpers.torch.metrics import accuracy

    y, y_test = torch.as_tensor(y), torch.as_tensor(y_test)
    shape_ok = x.ndim == 4 and (model is not None or x.shape[1:] == (3, 32, 32))
    if not shape_ok or y.shape != (len(x),) or y_test.shape != (len(x_test),):
        expected = "(N, C, H, W)" if model is not None else "(N, 3, 32, 32)"
        raise ValueError(f"x must be {expected} with y (N,), and y_test (len(x_test),); got {tuple(x.shape)}, "
                         f"{tuple(y.shape)}, {tuple(y_test.shape)}")
    steps, batch_size = positive_int(steps, "steps"), positive_int(batch_size, "batch_size")
    if model is None:
        model = small_cifar_cnn(n_classes, seed)
    else:
        torch.manual_seed(seed)
        model = model()
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(x), (batch_size,), generator=gen)
        xb = random_shift(x[idx], 2, gen)
        if flip:
            flipped = torch.rand(len(idx), generator=gen) < 0.5
            xb[flipped] = xb[flipped].flip(-1)
        loss = F.cross_entropy(model(xb), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return accuracy(model, x_test, y_test)


def pretrained_cifar_resnet(init: str = "pretrained") -> nn.Module:
    """The committed CIFAR-10 ResNet-20 taking pixels in [0, 1]: its weights, or the same network with random weights.

    ``init="pretrained"`` loads the committed checkpoint (a fresh copy on every call); ``init="random"``
    builds ``Normalize`` (the checkpoint's CIFAR-10 mean and std) + ``CifarResNet(20, width=16)`` from
    PyTorch's current random state.
    """
    from collections import OrderedDict

    from helpers.torch.models import Normalize
    from helpers.torch.resnet import CifarResNet, load_cifar_resnet

    if init not in ("pretrained", "random"):
        raise ValueError(f"init must be 'pretrained' or 'random', got {init!r}")
    if init == "pretrained":
        return load_cifar_resnet(pixel_input=True)[0]
    with torch.random.fork_rng(devices=[]):            # reading the log builds a network: keep the random state
        log = load_cifar_resnet()[1]
    return nn.Sequential(OrderedDict(normalize=Normalize(log["data"]["mean"], log["data"]["std"]),
                                     net=CifarResNet(20, width=16)))


def transfer_run(x: torch.Tensor, y, x_test: torch.Tensor, y_test, init: str = "pretrained", trainable=None,
                 head_lr: float = 0.05, backbone_lr: float = 0.01, steps: int = 80, batch_size: int = 25,
                 seed: int = 0, classes: int = 10) -> dict:
    """One trained variant of the transfer lesson: ResNet-20, a new ``classes``-way head, SGD, accuracy on the test set.

    ``torch.manual_seed(seed)``, then :func:`pretrained_cifar_resnet` (``init``), :func:`replace_head` (seeded),
    :func:`freeze` except ``trainable`` (``None``: everything trains), SGD with momentum 0.9 and weight decay
    5e-4 at ``head_lr`` for the head and ``backbone_lr`` for the rest (one rate, ``head_lr``, for random
    weights: nothing to preserve), :func:`fine_tune` for ``steps`` batches of ``batch_size`` (seeded).
    Returns ``acc`` (on ``x_test, y_test``), ``trainable`` (parameters), ``seconds`` (training) and
    ``loss`` (mean of the last 5 steps).
    """
    import time

    from helpers.torch.metrics import accuracy
    from helpers.torch.params import count_params

    torch.manual_seed(seed)
    model = pretrained_cifar_resnet(init)
    if init == "random":
        backbone_lr = head_lr
    replace_head(model, classes, seed=seed)
    if trainable is not None:
        freeze(model, except_=trainable)
    optimizer = torch.optim.SGD(param_groups_with_lr(model, {"net.head": head_lr}, default=backbone_lr),
                                momentum=0.9, weight_decay=5e-4)
    start = time.perf_counter()
    losses = fine_tune(model, x, y, optimizer, steps=steps, batch_size=batch_size, seed=seed)
    seconds = time.perf_counter() - start
    return {"acc": accuracy(model, x_test, torch.as_tensor(y_test)),
            "trainable": count_params(model, trainable_only=True), "seconds": seconds,
            "loss": float(np.mean(losses[-5:]))}
