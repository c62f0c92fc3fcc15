"""Train and eval mode of PyTorch models, switched and restored correctly.

``model.eval()`` flips a flag on *every* submodule; restoring with
``model.train(was_training)`` writes the top-level flag back onto every
submodule, which silently switches a deliberately frozen batch norm inside a
training model back to train mode. :func:`eval_mode` remembers each submodule's
own flag and restores exactly that; every library function that evaluates a
model goes through it. :func:`preserve_mode` is the same restoration for code
that *trains* (fine-tuning), and :func:`ensure_training` switches a model to
training mode without undoing a deliberately frozen batch norm.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn

__all__ = ["preserve_mode", "eval_mode", "ensure_training", "set_frozen_bn_eval"]


@contextlib.contextmanager
def preserve_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Context manager: whatever happens inside, every submodule of ``model`` gets its own train/eval flag back.

    Restores also when the body raises. Anything that is not an ``nn.Module``
    passes through unchanged.
    """
    if not isinstance(model, nn.Module):
        yield model
        return
    modes = [(m, m.training) for m in model.modules()]
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training


@contextlib.contextmanager
def eval_mode(model: nn.Module, freeze: bool = False) -> Iterator[nn.Module]:
    """Context manager: ``model`` (and every submodule) in eval mode; each submodule's own mode restored after.

    With ``freeze=True`` the parameters that required gradients stop requiring them
    for the duration (what an attack wants: gradients for the input only) and
    require them again afterwards. Anything that is not an ``nn.Module`` (a plain
    function standing in for a model) passes through unchanged.
    """
    if not isinstance(model, nn.Module):
        yield model
        return
    params = [p for p in model.parameters() if p.requires_grad] if freeze else []
    with preserve_mode(model):
        model.eval()
        for p in params:
            p.requires_grad_(False)
        try:
            yield model
        finally:
            for p in params:
                p.requires_grad_(True)


def ensure_training(model: nn.Module) -> nn.Module:
    """Put ``model`` in training mode unless it already is; return it.

    A model in eval mode is switched to training mode entirely (``model.train()``).
    A model already in training mode is left untouched, so a submodule deliberately
    kept in eval mode (a frozen batch norm, :func:`set_frozen_bn_eval`) stays so.
    """
    if isinstance(model, nn.Module) and not model.training:
        model.train()
    return model


def set_frozen_bn_eval(model: nn.Module) -> int:
    """Put every batch-norm layer whose parameters are all frozen in eval mode; return how many.

    In train mode a batch norm overwrites its running mean and variance with the
    statistics of the new data even when its weights are frozen; in eval mode it
    keeps the pretrained ones.
    """
    n = 0
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            params = list(m.parameters())
            if all(not p.requires_grad for p in params):
                m.eval()
                n += 1
    return n
