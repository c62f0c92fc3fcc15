"""Weight averaging for PyTorch models: an exponential moving average (EMA) of the weights during training.

The weights at the end of training zig-zag around a minimum with every mini-batch; an average of the
recent weights usually sits nearer its middle and generalizes a little better (Polyak averaging; SWA is
the same idea with a plain mean over epochs). :class:`WeightEMA` keeps a copy of the model whose
parameters *and* floating-point buffers (batch-norm running statistics) follow

    avg <- decay * avg + (1 - decay) * current

after every :meth:`WeightEMA.update`; integer buffers (batch-norm's step counter) are copied.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from helpers.checks import number

__all__ = ["WeightEMA"]


class WeightEMA:
    """An exponential moving average of ``model``'s weights; ``.model`` is the averaged copy (in eval mode).

    ``decay`` in [0, 1): the average forgets with time constant about ``1 / (1 - decay)`` updates.
    ``update(model)`` after each optimizer step; the first ``update`` after construction (or when
    ``warmup`` is True, any update while fewer than ``1 / (1 - decay)`` have been made) uses the smaller
    decay ``(1 + n) / (10 + n)`` so that the average is not dominated by the initial weights.
    """

    def __init__(self, model: nn.Module, decay: float = 0.99, warmup: bool = True):
        self.decay = number(decay, "decay", low=0.0, high=1.0, high_open=True)
        self.warmup = bool(warmup)
        self.updates = 0
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def current_decay(self) -> float:
        """The decay the next :meth:`update` will use."""
        if not self.warmup:
            return self.decay
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Blend ``model``'s current weights into the average (names and shapes must match the copy)."""
        d = self.current_decay()
        avg = self.model.state_dict()
        for name, value in model.state_dict().items():
            if name not in avg or avg[name].shape != value.shape:
                raise ValueError(f"model does not match the averaged copy at {name!r}")
            if value.is_floating_point():
                avg[name].mul_(d).add_(value.detach(), alpha=1 - d)
            else:
                avg[name].copy_(value)
        self.updates += 1

    def state_dict(self) -> dict:
        """The averaged weights (a copy), as ``model.state_dict()`` would give them."""
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}
