"""Trained NumPy-network weights that lessons load instead of training again: ``<name>.npz`` + ``<name>.json``.

The NumPy twin of :mod:`helpers.torch.checkpoints`. A script in ``scripts/`` trains a
:class:`helpers.numpy.network.Sequential` once and calls :func:`save_numpy_checkpoint`,
which writes its weights (``Sequential.state_dict`` keys, float32) to
``book/lessons/checkpoints/<name>.npz`` and the training log to ``<name>.json``.
:func:`load_numpy_checkpoint` finds that pair in a checkout of the book, or downloads it
from the book's repository (e.g. in Colab) into ``<data folder>/checkpoints``, and
returns ``(weights, log)``; ``network.load_weights(weights)`` puts the weights into a
network of the same architecture. Nothing here imports PyTorch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from helpers.committed_files import check_name, checkpoint_dir, locate

__all__ = ["numpy_checkpoint_dir", "save_numpy_checkpoint", "load_numpy_checkpoint"]

_SUFFIXES = (".json", ".npz")


def numpy_checkpoint_dir() -> Path | None:
    """Where the committed checkpoints live in a checkout: ``book/lessons/checkpoints`` (``None`` outside one)."""
    return checkpoint_dir()


def _check_name(name) -> str:
    return check_name(name, _SUFFIXES, "mnist_numpy_99")


def save_numpy_checkpoint(network, log: dict, name: str, folder: Path | str | None = None) -> Path:
    """Save ``network``'s weights as float32 ``<name>.npz`` and ``log`` as ``<name>.json``; returns the ``.npz`` path.

    ``network`` is a :class:`helpers.numpy.network.Sequential` (anything with ``state_dict()``
    returning ``{key: array}``); the keys are those of ``Sequential.state_dict`` (``"0.w"``, ...).
    ``folder`` defaults to the checkout's ``book/lessons/checkpoints``.
    """
    name = _check_name(name)
    if not isinstance(log, dict):
        raise ValueError(f"log must be a dict (saved as JSON); got {type(log).__name__}")
    if not hasattr(network, "state_dict"):
        raise ValueError("network must have a state_dict() of NumPy arrays (a Sequential); "
                         f"got {type(network).__name__}")
    if folder is None and numpy_checkpoint_dir() is None:
        raise ValueError("outside a checkout of the book, pass the folder to save the checkpoint in")
    where = Path(folder) if folder is not None else numpy_checkpoint_dir()
    where.mkdir(parents=True, exist_ok=True)
    state = {k: np.asarray(v, dtype=np.float32) for k, v in network.state_dict().items()}
    np.savez_compressed(where / f"{name}.npz", **state)
    (where / f"{name}.json").write_text(json.dumps(log, indent=1) + "\n")
    return where / f"{name}.npz"


def load_numpy_checkpoint(name: str, folder: Path | str | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """``(weights, log)`` of the NumPy checkpoint ``name``: ``{key: float32 array}`` and the log as a dict.

    Looks in ``folder`` if given, else in the checkout's ``book/lessons/checkpoints``,
    else in ``<data folder>/checkpoints`` (downloading the pair there when missing).
    Load the weights into a network of the same architecture with ``network.load_weights(weights)``.
    """
    name = _check_name(name)
    where = locate(name, _SUFFIXES, folder, "NumPy checkpoint")
    with np.load(where / f"{name}.npz") as f:
        weights = {k: f[k] for k in f.files}
    log = json.loads((where / f"{name}.json").read_text())
    return weights, log
