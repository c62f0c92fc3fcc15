"""Short, seeded training runs of a small MNIST CNN, and the searches that tune them with a fixed budget.

:func:`train_small_cnn` trains :func:`helpers.torch.models.mnist_classifier` with SGD (momentum and L2
weight decay) and an optional learning-rate schedule (a function ``step -> lr``, e.g. from
:mod:`helpers.numpy.schedules`). :func:`validation_objective` is one trial of a hyperparameter search:
train for one epoch on the search's training digits and return the accuracy on its validation digits.
:func:`grid_configs`, :func:`random_configs` and :func:`optuna_search` propose the configurations of the
three searches the book compares (grid, random, and Optuna's TPE with median pruning) over
:data:`SEARCH_SPACE`. Optuna is imported only by :func:`optuna_search`.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
import torch.nn.functional as F

from helpers.checks import integer, positive_int
from helpers.torch.metrics import accuracy
from helpers.torch.models import mnist_classifier

__all__ = ["SEARCH_SPACE", "search_split", "train_small_cnn", "validation_objective", "grid_configs", "random_configs",
           "optuna_search"]

#: name -> (low, high, scale) of each searched hyperparameter
SEARCH_SPACE = {"lr": (1e-3, 1.0, "log"), "momentum": (0.0, 0.99, "linear"), "weight_decay": (1e-6, 1e-2, "log")}


def _check_data(x, y, name):
    if not (isinstance(x, torch.Tensor) and x.ndim == 4 and x.shape[1:] == (1, 28, 28)):
        raise ValueError(f"{name} must be a tensor of MNIST images (N, 1, 28, 28); got {getattr(x, 'shape', x)!r}")
    if not (isinstance(y, torch.Tensor) and y.shape == (len(x),)):
        raise ValueError(f"the labels of {name} must be a tensor of shape ({len(x)},); got {getattr(y, 'shape', y)!r}")


def search_split(train):
    """The search's data from the MNIST training set ``train`` (an ``ArrayDataset``): normalized tensors
    ``(x_train, y_train, x_val, y_val)`` of training digits 0-1,999 and 2,000-2,999 (validation)."""
    from helpers.data import normalize_mnist

    if len(train.y) < 3000:
        raise ValueError(f"the search needs at least 3,000 training digits; got {len(train.y)}")
    x = torch.from_numpy(normalize_mnist(train.x[:3000]))
    y = torch.from_numpy(np.asarray(train.y[:3000])).long()
    return x[:2000], y[:2000], x[2000:], y[2000:]


def train_small_cnn(x, y, lr=0.05, momentum=0.9, weight_decay=0.0, schedule=None, epochs=1, batch_size=32,
                    width=4, hidden=0, seed=0, on_half_epoch=None):
    """Train ``mnist_classifier(width, hidden)`` with SGD on ``(x, y)``; returns the model in eval mode,
    or ``None`` if ``on_half_epoch`` asked to stop.

    The weights and the batch order come from ``seed``. ``schedule(step)``, when given, sets the learning
    rate before every step (``lr`` is then only the starting value). ``on_half_epoch(model)`` is called
    half-way through the first epoch (for pruning); if it returns ``True`` training stops.
    """
    _check_data(x, y, "x")
    epochs, batch_size = positive_int(epochs, "epochs"), positive_int(batch_size, "batch_size")
    seed = integer(seed, "seed", minimum=0)
    for name, value in (("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    torch.manual_seed(seed)
    model = mnist_classifier(width=width, hidden=hidden)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    order = torch.Generator().manual_seed(seed)
    step = 0
    for epoch in range(epochs):
        batches = torch.randperm(len(x), generator=order).split(batch_size)
        for k, idx in enumerate(batches, 1):
            if schedule is not None:
                for group in opt.param_groups:
                    group["lr"] = schedule(step)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if on_half_epoch is not None and epoch == 0 and k == len(batches) // 2:
                stop = on_half_epoch(model.eval())
                model.train()
                if stop:
                    return None
    return model.eval()


def validation_objective(data, lr, momentum, weight_decay, seed=0, on_half_epoch=None):
    """One search trial: validation accuracy after one epoch of :func:`train_small_cnn` (width 4, batch 32).

    ``data`` is ``(x_train, y_train, x_val, y_val)``. A run whose weights became NaN scores 0.
    ``on_half_epoch(val_accuracy)`` is called half-way; if it returns ``True`` the run stops and this
    returns ``None`` (a pruned trial).
    """
    x, y, x_val, y_val = data
    _check_data(x_val, y_val, "x_val")
    hook = None if on_half_epoch is None else (lambda m: on_half_epoch(accuracy(m, x_val, y_val)))
    model = train_small_cnn(x, y, lr=lr, momentum=momentum, weight_decay=weight_decay, seed=seed,
                            on_half_epoch=hook)
    if model is None:
        return None
    acc = accuracy(model, x_val, y_val)
    return acc if math.isfinite(acc) else 0.0


def grid_configs(**values) -> list[dict]:
    """Every combination of the given values, e.g. ``grid_configs(lr=[...], momentum=[...], weight_decay=[...])``."""
    if not values or any(len(v) == 0 for v in values.values()):
        raise ValueError("give at least one non-empty list of values per hyperparameter")
    names = list(values)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values.values())]


def random_configs(n: int, seed: int = 0, space=None) -> list[dict]:
    """``n`` configurations drawn independently from ``space`` (default :data:`SEARCH_SPACE`):
    log-uniform for ``"log"`` ranges, uniform for ``"linear"`` ones."""
    n = positive_int(n, "n")
    space = SEARCH_SPACE if space is None else space
    rng = np.random.default_rng(seed)
    configs = []
    for _ in range(n):
        cfg = {}
        for name, (low, high, scale) in space.items():
            if scale == "log":
                cfg[name] = float(10 ** rng.uniform(math.log10(low), math.log10(high)))
            elif scale == "linear":
                cfg[name] = float(rng.uniform(low, high))
            else:
                raise ValueError(f"scale of {name} must be 'log' or 'linear'; got {scale!r}")
        configs.append(cfg)
    return configs


def optuna_search(objective, n_trials: int, seed: int = 0, space=None, startup_trials: int = 4):
    """An Optuna study (TPE sampler, median pruner) maximizing ``objective(config, on_half_epoch)``.

    ``objective`` returns a score or ``None`` when its ``on_half_epoch`` callback asked it to stop; the
    callback reports the validation accuracy at half an epoch and returns Optuna's pruning decision.
    The first ``startup_trials`` trials are random and never pruned. Returns the finished study.
    """
    import optuna

    n_trials = positive_int(n_trials, "n_trials")
    space = SEARCH_SPACE if space is None else space

    def trial_fn(trial):
        cfg = {name: trial.suggest_float(name, low, high, log=scale == "log")
               for name, (low, high, scale) in space.items()}

        def on_half_epoch(score):
            trial.report(score, 1)
            return trial.should_prune()
        value = objective(cfg, on_half_epoch)
        if value is None:
            raise optuna.TrialPruned()
        return value

    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup_trials),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=startup_trials))
    study.optimize(trial_fn, n_trials=n_trials)
    return study
