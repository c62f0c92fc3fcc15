"""Files a script committed to ``book/lessons/checkpoints`` (weights and logs), found in a checkout or downloaded.

Both halves of the library keep trained results there: :mod:`helpers.torch.checkpoints`
(``.pt`` + ``.json``) and :mod:`helpers.numpy.checkpoints` (``.npz`` + ``.json``).
:func:`locate` is their one way of finding such a set of files: in a given folder, else in the
checkout the library runs from, else in ``<data folder>/checkpoints``, downloading the files there
from the book's repository when they are missing (e.g. in Colab). Standard library only.
"""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

from helpers.data import DataUnavailableError, data_dir, network_timeout
from helpers.project import raw_url, repo_root

__all__ = ["checkpoint_dir", "check_name", "locate"]


def checkpoint_dir() -> Path | None:
    """Where the committed checkpoints live in a checkout: ``book/lessons/checkpoints`` (``None`` outside one)."""
    root = repo_root()
    return None if root is None else root / "book" / "lessons" / "checkpoints"


def check_name(name, suffixes, example: str) -> str:
    """``name`` if it is a bare file stem (no folder, none of ``suffixes``); else a ValueError naming ``example``."""
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name.endswith(tuple(suffixes)):
        raise ValueError(f"a checkpoint name is a bare file stem such as {example!r}; got {name!r}")
    return name


def _download(name: str, folder: Path, suffixes, what: str) -> None:
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
            files = " and ".join(f"{name}{s}" for s in suffixes)
            raise DataUnavailableError(
                f"{what} {name!r} is neither in a checkout of the book nor in {folder}, and downloading it "
                f"from {raw_url('book/lessons/checkpoints/')} failed ({type(exc).__name__}: {exc}). To fix: run "
                f"the lesson from a checkout of the book, copy {files} into {folder}, or retrain it with the "
                "script named in the lesson."
            ) from exc
        partial.rename(target)


def locate(name: str, suffixes, folder: Path | str | None, what: str) -> Path:
    """The folder that holds ``name + suffix`` for every suffix (the last suffix is the one looked for).

    ``folder`` if given (``DataUnavailableError`` "no <what> <file> in <folder>" if the file is not there),
    else the checkout's ``book/lessons/checkpoints`` if it has the file, else ``<data folder>/checkpoints``,
    where missing files are downloaded from the book's repository.
    """
    main = f"{name}{suffixes[-1]}"
    if folder is not None:
        where = Path(folder)
        if not (where / main).is_file():
            raise DataUnavailableError(f"no {what} {main} in {where}")
        return where
    if checkpoint_dir() is not None and (checkpoint_dir() / main).is_file():
        return checkpoint_dir()
    where = data_dir() / "checkpoints"
    _download(name, where, suffixes, what)
    return where
