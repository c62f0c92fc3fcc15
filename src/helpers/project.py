"""Where the book lives: the one setting for its repository, and the checkout the library runs from.

A fork changes :data:`REPOSITORY` (``owner/name`` on GitHub) and, if it publishes
from another branch, :data:`BRANCH`; everything that downloads from the book's
repository (checkpoints, the DSB2018 file) builds its address from them. The
``_config.yml`` and the lessons' set-up cells must name the same repository (a
test checks this). The environment variable ``CNN_BOOK_RAW_URL`` replaces the
download address of the repository's files with a mirror (the Colab simulation
test serves a local clone that way).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["REPOSITORY", "BRANCH", "REPOSITORY_URL", "RAW_URL_ENV", "raw_url", "repo_root"]

REPOSITORY = "cnn-book/cnn-book"
BRANCH = "main"
REPOSITORY_URL = f"https://github.com/{REPOSITORY}"
RAW_URL_ENV = "CNN_BOOK_RAW_URL"

_ROOT = Path(__file__).resolve().parents[2]


def raw_url(path: str) -> str:
    """Download address of a file committed to the book's repository, e.g. ``raw_url("data/README.md")``.

    ``$CNN_BOOK_RAW_URL``, when set, is used as the base address instead of GitHub's.
    """
    if not isinstance(path, str) or not path or path.startswith("/"):
        raise ValueError(f"path must be a path relative to the repository root; got {path!r}")
    base = os.environ.get(RAW_URL_ENV) or f"https://raw.githubusercontent.com/{REPOSITORY}/{BRANCH}/"
    return base.rstrip("/") + "/" + path


def repo_root() -> Path | None:
    """The root of the book's checkout the library is imported from, or ``None`` when it is installed elsewhere.

    A checkout is recognised by its ``_config.yml`` next to ``src/``: an editable
    install (``pip install -e .``) has one, an install from a wheel or from
    ``git+https://`` (Colab) does not.
    """
    return _ROOT if (_ROOT / "_config.yml").is_file() and (_ROOT / "src" / "helpers").is_dir() else None
