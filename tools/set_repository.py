"""Write the book's one repository setting (``src/helpers/project.py``) into every place that names it.

A fork edits ``REPOSITORY`` (and ``BRANCH``) in ``src/helpers/project.py`` and runs

    python tools/set_repository.py

which rewrites ``_config.yml`` (the site's repository, Colab and issue buttons), ``pyproject.toml``
(the package's URL) and the set-up cell of every notebook (the ``pip install git+https://...`` that
Colab runs). ``tests/test_layout.py`` fails while any of them disagrees with ``project.py``. The
downloads of committed files (checkpoints, the DSB2018 file) read ``project.py`` directly.
"""

from __future__ import annotations

import argparse
import re
import runpy
import sys
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
URL = re.compile(r"https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


def rewrite(path: Path, pattern: re.Pattern, replacement: str) -> bool:
    text = path.read_text(encoding="utf-8")
    new = pattern.sub(replacement, text)
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to rewrite (default: this one)")
    root = parser.parse_args(argv).root
    project = SimpleNamespace(**runpy.run_path(str(root / "src" / "helpers" / "project.py")))
    changed = []
    config = root / "_config.yml"
    if rewrite(config, re.compile(r"(?m)^(  url: )\S+$"), rf"\g<1>{project.REPOSITORY_URL}"):
        changed.append(config)
    if rewrite(config, re.compile(r"(?m)^(  branch: )\S+$"), rf"\g<1>{project.BRANCH}"):
        changed.append(config)
    pyproject = root / "pyproject.toml"
    if rewrite(pyproject, re.compile(r'(?m)^(Repository = ")[^"]+(")$'), rf"\g<1>{project.REPOSITORY_URL}\g<2>"):
        changed.append(pyproject)
    for nb in sorted((root / "book").rglob("*.ipynb")):
        if "_build" in nb.parts or ".ipynb_checkpoints" in nb.parts:
            continue
        if rewrite(nb, re.compile(r"git\+" + URL.pattern), f"git+{project.REPOSITORY_URL}"):
            changed.append(nb)
    names = sorted({str(p.relative_to(root)) for p in changed})
    print(f"{project.REPOSITORY_URL} (branch {project.BRANCH}) written to: " + (", ".join(names) or "nothing changed"))
    if any(p.suffix == ".ipynb" for p in changed):
        print("notebooks changed: re-execute them (tools/execute_notebooks.py) so their provenance hashes match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
