"""Copy the JavaScript the static site serves itself into book/_site_js.

Installs the pinned npm packages of tools/site-js (package-lock.json) when they
are missing, then copies: RequireJS and the ipywidgets HTML manager (so widgets
render on the static pages; its MathJax 2 call is adapted to MathJax 3) and MathJax's self-contained SVG build (so math
renders) into book/_site_js, which the site build publishes under _static/.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "tools" / "site-js"
OUT = ROOT / "book" / "_site_js"
FILES = {
    "requirejs/require.js": "require.js",
    "@jupyter-widgets/html-manager/dist/embed-amd.js": "embed-amd.js",
    "mathjax/es5/tex-svg-full.js": "tex-svg-full.js",
}


# The widget manager typesets labels with the MathJax 2 API (MathJax.Hub.Queue);
# the site runs MathJax 3, where that call throws. Use MathJax 3's API when there is no Hub.
_MATHJAX2_CALL = re.compile(r'MathJax\.Hub\.Queue\(\["Typeset",MathJax\.Hub,(\w+)\]\)')
_MATHJAX_EITHER = (
    r'(MathJax.Hub?MathJax.Hub.Queue(["Typeset",MathJax.Hub,\1])'
    r":MathJax.typesetPromise&&MathJax.typesetPromise([\1]))"
)


def patch_widget_mathjax(path: Path) -> None:
    """Make the widget manager's MathJax call work with MathJax 3 (fails loudly if the code changed)."""
    text, count = _MATHJAX2_CALL.subn(_MATHJAX_EITHER, path.read_text(encoding="utf-8"))
    if count == 0:
        raise SystemExit(f"{path.name}: the MathJax 2 call to patch was not found; check the widget manager version")
    path.write_text(text, encoding="utf-8")


def main() -> int:
    modules = PKG / "node_modules"
    if not all((modules / src).is_file() for src in FILES):
        if shutil.which("npm") is None:
            print("npm is needed once to fetch the site's JavaScript (widgets, math): install Node.js", file=sys.stderr)
            return 1
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PKG, check=True)
    OUT.mkdir(parents=True, exist_ok=True)
    for src, dst in FILES.items():
        shutil.copyfile(modules / src, OUT / dst)
    patch_widget_mathjax(OUT / "embed-amd.js")
    shutil.copyfile(PKG / "widgets-config.js", OUT / "widgets-config.js")
    # the widget manager's icon fonts, referenced relative to embed-amd.js
    for font in (modules / "@jupyter-widgets/html-manager/dist").iterdir():
        if font.suffix in {".woff", ".woff2", ".ttf", ".eot", ".svg"}:
            shutil.copyfile(font, OUT / font.name)
    print(f"site JavaScript ready in {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
