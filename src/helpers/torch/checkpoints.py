"""Trained weights that lessons load instead of training for half an hour.

Scripts in ``scripts/`` train a model once and save ``<name>.pt`` (weights, float16
to keep the file small) and ``<name>.json`` (its training log) in
``book/lessons/checkpoints``. :func:`load_checkpoint` finds that pair in a checkout
of the book, or downloads it from the book's repository (e.g. in Colab) into
``<data folder>/checkpoints``, and returns the state dict (float32 again) and the log.
"""

from __future__ import annotations

import json
from pathlib import Path

from helpers.committed_files import check_name, checkpoint_dir, locate

__all__ = ["checkpoint_dir", "load_checkpoint", "load_log", "save_checkpoint"]

_SUFFIXES = (".json", ".pt")


def _check_name(name) -> str:
    return check_name(name, _SUFFIXES, "resnet20_cifar10")


def load_checkpoint(name: str, folder: Path | str | None = None):
    """``(state_dict, log)`` of the checkpoint ``name``: float tensors as float32, the log as a dict.

    Looks in ``folder`` if given, else in the checkout's ``book/lessons/checkpoints``,
    else in ``<data folder>/checkpoints`` (downloading the pair there when missing).
    """
    import torch

    name = _check_name(name)
    where = locate(name, _SUFFIXES, folder, "checkpoint")
    state = torch.load(where / f"{name}.pt", map_location="cpu", weights_only=True)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    log = json.loads((where / f"{name}.json").read_text())
    return state, log


def load_log(name: str, folder: Path | str | None = None) -> dict:
    """The JSON log ``<name>.json`` a script wrote without weights (a sweep's curves, say), as a dict.

    Found like :func:`load_checkpoint`: in ``folder`` if given, else in the checkout's
    ``book/lessons/checkpoints``, else in ``<data folder>/checkpoints`` (downloaded there when missing).
    """
    name = _check_name(name)
    where = locate(name, (".json",), folder, "log")
    return json.loads((where / f"{name}.json").read_text())


def save_checkpoint(model, log: dict, name: str, folder: Path | str | None = None) -> Path:
    """Save ``model``'s weights as float16 ``<name>.pt`` and ``log`` as ``<name>.json``; returns the ``.pt`` path.

    ``folder`` defaults to the checkout's ``book/lessons/checkpoints``.
    """
    import torch

    name = _check_name(name)
    if not isinstance(log, dict):
        raise ValueError(f"log must be a dict (saved as JSON); got {type(log).__name__}")
    if folder is None and checkpoint_dir() is None:
        raise ValueError("outside a checkout of the book, pass the folder to save the checkpoint in")
    where = Path(folder) if folder is not None else checkpoint_dir()
    where.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().half() if v.is_floating_point() else v.detach() for k, v in model.state_dict().items()}
    torch.save(state, where / f"{name}.pt")
    (where / f"{name}.json").write_text(json.dumps(log, indent=1) + "\n")
    return where / f"{name}.pt"
