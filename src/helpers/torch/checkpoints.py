"""Trained weights that lessons load instead of training for half an hour.

Scripts in ``scripts/`` train a model once and save ``<name>.pt`` (weights, float16
to keep the file small) and ``<name>.json`` (its training log) in
``book/lessons/checkpoints``. :func:`load_checkpoint` finds that pair in a checkout
of the book, or downloads it from the book's repository (e.g. in Colab) into
``<data folder>/checkpoints``, and returns the state dict (float32 again) and the log.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

from helpers.data import DataUnavailableError, data_dir, network_timeout
from helpers.project import raw_url, repo_root

__all__ = ["checkpoint_dir", "load_checkpoint", "load_log", "save_checkpoint"]



def checkpoint_dir() -> Path | None:
    """Where the committed checkpoints live in a checkout: ``book/lessons/checkpoints`` (``None`` outside one)."""
    root = repo_root()
    return None if root is None else root / "book" / "lessons" / "checkpoints"


def _check_name(name) -> str:
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name.endswith((".pt", ".json")):
        raise ValueError(f"a checkpoint name is a bare file stem such as 'resnet20_cifar10'; got {name!r}")
    return name


def _download(name: str, folder: Path, suffixes=(".json", ".pt")) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in suffixes:
        target = folder / f"{name}{suffix}"
        if target.is_file():
            continue
        partial = target.with_suffix(suffix + ".part")
        try:
            url = raw_url(f"book/lessons/checkpoints/{target.name}")
            with network_timeout(), urllib.request.urlopen(url) as response, open(partial, "wb") as fh:
                shutil.copyfileobj(response, fh)
        except Exception as exc:  # offline, HTTP 404, timeout...
            partial.unlink(missing_ok=True)
            raise DataUnavailableError(
                f"checkpoint {name!r} is neither in a checkout of the book nor in {folder}, and downloading it "
                f"from {raw_url('book/lessons/checkpoints/')} failed ({type(exc).__name__}: {exc}). To fix: run "
                "the lesson from a "
                f"checkout of the book, copy {name}.pt and {name}.json into {folder}, or retrain it with the "
                "script named in the lesson."
            ) from exc
        partial.rename(target)


def load_checkpoint(name: str, folder: Path | str | None = None):
    """``(state_dict, log)`` of the checkpoint ``name``: float tensors as float32, the log as a dict.

    Looks in ``folder`` if given, else in the checkout's ``book/lessons/checkpoints``,
    else in ``<data folder>/checkpoints`` (downloading the pair there when missing).
    """
    import torch

    name = _check_name(name)
    if folder is not None:
        where = Path(folder)
        if not (where / f"{name}.pt").is_file():
            raise DataUnavailableError(f"no checkpoint {name}.pt in {where}")
    elif checkpoint_dir() is not None and (checkpoint_dir() / f"{name}.pt").is_file():
        where = checkpoint_dir()
    else:
        where = data_dir() / "checkpoints"
        _download(name, where)
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
    if folder is not None:
        where = Path(folder)
        if not (where / f"{name}.json").is_file():
            raise DataUnavailableError(f"no log {name}.json in {where}")
    elif checkpoint_dir() is not None and (checkpoint_dir() / f"{name}.json").is_file():
        where = checkpoint_dir()
    else:
        where = data_dir() / "checkpoints"
        _download(name, where, suffixes=(".json",))
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
