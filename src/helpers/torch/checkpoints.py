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

__all__ = ["checkpoint_dir", "load_checkpoint", "load_log", "save_checkpoint", "save_sweep_log"]

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


def save_sweep_log(name: str, args, data: dict, runs, started: float, world_size: int,
                   folder: Path | str | None = None) -> Path:
    """Write a sweep script's log ``<name>.json`` (no weights; read it back with :func:`load_log`); returns its path.

    The log holds, in this order: ``args`` (the script's ``argparse.Namespace`` without ``out``, paths as
    strings), ``data`` (where the data came from), ``runs``, ``wall_seconds`` since ``started`` (a
    ``time.perf_counter()`` value), ``machine`` (:func:`helpers.machine.machine_info`) and ``world_size``
    (processes of the run). ``folder`` defaults to the checkout's ``book/lessons/checkpoints``.
    """
    import time

    from helpers.machine import machine_info

    name = _check_name(name)
    if folder is None and checkpoint_dir() is None:
        raise ValueError("outside a checkout of the book, pass the folder to save the log in")
    log = {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "out"},
        "data": data,
        "runs": runs,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "machine": machine_info(),
        "world_size": world_size,
    }
    where = Path(folder) if folder is not None else checkpoint_dir()
    where.mkdir(parents=True, exist_ok=True)
    out = where / f"{name}.json"
    out.write_text(json.dumps(log, indent=1) + "\n")
    print(f"wrote {out} ({log['wall_seconds']:.0f} s)")
    return out
