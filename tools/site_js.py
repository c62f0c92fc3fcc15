"""Copy the files the static site serves itself into book/_site_js (published under _static/).

Nothing is downloaded and no Node.js is needed: MathJax's self-contained SVG build comes from the
Python package ``sphinx-mathjax-offline`` (installed by requirements.txt; MathJax is Apache-2.0), and
the book's stylesheet from ``tools/site-assets``. The site needs no other JavaScript: the lessons'
controls are precomputed HTML with a few lines of inline script (``helpers.book.widgets.interact``),
and progress bars are saved as text.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "tools" / "site-assets"
OUT = ROOT / "book" / "_site_js"
MATHJAX_PACKAGE = "sphinx-mathjax-offline"     # its import name has hyphens; found with importlib
MATHJAX_FILE = "tex-svg-full.js"


def mathjax_source() -> Path:
    """The path of MathJax's tex-svg-full.js inside the installed sphinx-mathjax-offline package."""
    spec = importlib.util.find_spec(MATHJAX_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"the Python package {MATHJAX_PACKAGE} is missing: pip install -r requirements.txt")
    path = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / MATHJAX_FILE
    if not path.is_file():
        raise SystemExit(f"{path} not found: the {MATHJAX_PACKAGE} package changed layout")
    return path


def main() -> int:
    shutil.rmtree(OUT, ignore_errors=True)          # no stale files from an older layout
    OUT.mkdir(parents=True)
    shutil.copyfile(mathjax_source(), OUT / MATHJAX_FILE)
    for asset in ASSETS.iterdir():
        shutil.copyfile(asset, OUT / asset.name)
    print(f"site files ready in {OUT.relative_to(ROOT)}: {', '.join(sorted(p.name for p in OUT.iterdir()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
