"""The training history both training loops return: one entry per epoch in each curve.

:func:`helpers.torch.training.fit` (PyTorch) and :func:`helpers.numpy.training.train`
(the NumPy network) fill the same :class:`History`, so the lessons read, plot and
save both the same way. This module imports only NumPy and the standard library.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np

__all__ = ["History"]

_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc")
_EPOCH_FIELDS = ("train_loss", "train_acc", "val_loss", "val_acc", "seconds", "lr")


@dataclass
class History:
    """What a training loop measured, one entry per epoch in each list (per step in the ``step_*`` lists).

    Per epoch:

    * ``train_loss`` / ``train_acc``: averages over the epoch's training batches
      (measured while the weights changed, with dropout, augmentation and batch
      statistics active);
    * ``val_loss`` / ``val_acc``: on the validation data after the epoch, in
      inference mode (NaN when the loop had no validation data);
    * ``seconds``: wall time of the epoch (validation included); :attr:`total_seconds` is their sum;
    * ``lr``: the learning rate at the start of the epoch.

    Per step (optional; filled by loops that record them, such as the NumPy
    ``train``): ``step_loss`` (the mini-batch loss) and ``step_lr`` (the learning
    rate used for that step).
    """

    train_loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    step_loss: list = field(default_factory=list)
    step_lr: list = field(default_factory=list)

    def add_epoch(self, train_loss, train_acc, val_loss=math.nan, val_acc=math.nan, seconds=math.nan,
                  lr=math.nan) -> None:
        """Append the measurements of one epoch (``None`` for a validation value is stored as NaN)."""
        values = (train_loss, train_acc, val_loss, val_acc, seconds, lr)
        for name, value in zip(_EPOCH_FIELDS, values, strict=True):
            getattr(self, name).append(math.nan if value is None else float(value))

    def add_step(self, loss, lr=None) -> None:
        """Append the loss (and, if given, the learning rate) of one mini-batch step."""
        self.step_loss.append(float(loss))
        if lr is not None:
            self.step_lr.append(float(lr))

    @property
    def total_seconds(self) -> float:
        """Wall time of all epochs together (the sum of :attr:`seconds`)."""
        return float(sum(self.seconds))

    def best(self, metric: str = "val_acc") -> tuple[int, float]:
        """``(epoch, value)`` of the best epoch for ``metric``: the lowest loss or the highest accuracy.

        Epochs count from 1, as in the progress bars and the plots. NaN entries are skipped.
        """
        if metric not in _METRICS:
            raise ValueError(f"metric must be one of {_METRICS}; got {metric!r}")
        values = np.asarray(getattr(self, metric), dtype=float)
        if not np.isfinite(values).any():
            raise ValueError(f"no {metric} recorded yet" if len(values) == 0 else f"{metric} has no finite value")
        values = np.where(np.isfinite(values), values, np.inf if metric.endswith("loss") else -np.inf)
        i = int(np.argmin(values) if metric.endswith("loss") else np.argmax(values))
        return i + 1, float(values[i])

    def as_dict(self) -> dict[str, list[float]]:
        """Every list as a plain dict of copies (e.g. to save with ``json``)."""
        return {f.name: list(getattr(self, f.name)) for f in fields(self)}

    def curves(self) -> dict[str, list[float]]:
        """The per-epoch metric curves that hold a finite value, named for a legend (``"train loss"``, ...).

        Ready for :func:`helpers.book.plots.plot_curves`; a validation curve that is all NaN
        (no validation data) is left out.
        """
        names = ("train_loss", "val_loss", "train_acc", "val_acc")
        return {n.replace("_", " "): list(getattr(self, n)) for n in names
                if np.isfinite(np.asarray(getattr(self, n), dtype=float)).any()}

    def __len__(self) -> int:
        """The number of epochs recorded."""
        return len(self.train_loss)
