"""Execute lessons top to bottom in a fresh kernel and record what code made their outputs.

    python tools/execute_notebooks.py                 # every lesson under book/
    python tools/execute_notebooks.py book/lessons/01_convolution.ipynb
    python tools/execute_notebooks.py --check         # verify the committed notebooks, run nothing
    python tools/execute_notebooks.py --compact       # re-encode stored figures as palette PNGs, run nothing

Executing sets ``CNN_BOOK_STATIC=1`` for the kernel, so :func:`helpers.book.widgets.interact`
saves precomputed, kernel-free controls; progress bars (tqdm widgets) are saved as their final line
of text and no widget state is stored. It writes ``metadata.cnn_book`` = {code_sha256, seconds}.
``--check`` fails when a notebook's code changed after it was last executed
(hash mismatch), when it was not run top to bottom in one fresh kernel
(execution counts not 1, 2, 3, ...), when it holds an error output, or when it
stores widget views or widget state (they show as ``interactive(...)`` off-line).
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import os
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"


def code_hash(nb) -> str:
    """SHA-256 of the notebook's code cells, in order (outputs and markdown excluded)."""
    sources = [cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
               for cell in nb["cells"] if cell["cell_type"] == "code"]
    return hashlib.sha256(json.dumps(sources).encode()).hexdigest()


def problems(nb) -> list[str]:
    """Why a committed notebook's outputs cannot be trusted (empty list: they can)."""
    found = []
    recorded = nb.get("metadata", {}).get("cnn_book", {}).get("code_sha256")
    if recorded is None:
        found.append("never executed by tools/execute_notebooks.py (no metadata.cnn_book)")
    elif recorded != code_hash(nb):
        found.append("code changed since it was last executed")
    cells = [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    counts = [c.get("execution_count") for c in cells]
    if counts != list(range(1, len(cells) + 1)):
        found.append(f"not run top to bottom in a fresh kernel (execution counts {counts[:8]}...)")
    tagged_ok = lambda c: "raises-exception" in c.get("metadata", {}).get("tags", [])  # noqa: E731
    if any(o.get("output_type") == "error" for c in cells if not tagged_ok(c) for o in c.get("outputs", [])):
        found.append("has error outputs")
    if any(WIDGET_VIEW in o.get("data", {}) for c in cells for o in c.get("outputs", [])) or \
            "widgets" in nb.get("metadata", {}):
        found.append("stores widget views or widget state (re-execute it with this tool)")
    return found


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _progress_text(model_id: str, state: dict) -> str | None:
    """The final line of a tqdm progress-bar widget (HBox of HTML, FloatProgress, HTML), or None."""
    model = state.get(model_id, {})
    children = [c.removeprefix("IPY_MODEL_") for c in model.get("state", {}).get("children", [])]
    parts = [state.get(c, {}) for c in children]
    if model.get("model_name") != "HBoxModel" or [p.get("model_name") for p in parts] != \
            ["HTMLModel", "FloatProgressModel", "HTMLModel"]:
        return None
    prefix, bar, suffix = (p.get("state", {}) for p in parts)
    filled = int(round(10 * bar.get("value", 0) / max(bar.get("max", 1) or 1, 1e-12)))
    text = f"{html.unescape(prefix.get('value', ''))}|{'#' * filled}{' ' * (10 - filled)}|" \
           f"{html.unescape(suffix.get('value', ''))}"
    return text.strip()


def widgets_to_text(nb) -> int:
    """Replace progress-bar widget outputs by their final text and drop all widget state; returns how many."""
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    replaced = 0
    for cell in nb.cells:
        outputs = []
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                outputs.append(out)
                continue
            text = _progress_text(view.get("model_id", ""), state)
            if text is None:
                raise ValueError(f"a widget that is not a progress bar is stored in a cell: {cell.source[:80]!r}; "
                                 "use helpers.book.widgets.interact for controls")
            outputs.append(nbformat.v4.new_output("stream", name="stderr", text=text + "\n"))
            replaced += 1
        if cell.cell_type == "code":
            cell.outputs = outputs
    nb.metadata.pop("widgets", None)
    return replaced


def compact_png(png_base64: str) -> str:
    """The same figure as a 256-colour palette PNG when that is smaller (plots have few colours), else unchanged.

    Images with transparent pixels are left as they are. Returns base64 text, as notebooks store images.
    """
    import base64
    import io

    from PIL import Image

    raw = base64.b64decode(png_base64)
    image = Image.open(io.BytesIO(raw))
    if image.mode in ("RGBA", "LA") and image.getextrema()[-1][0] < 255:
        return png_base64
    out = io.BytesIO()
    image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(out, "PNG", optimize=True)
    return base64.b64encode(out.getvalue()).decode() if out.tell() < len(raw) else png_base64


def compact_figures(nb) -> int:
    """Re-encode every PNG output of ``nb`` with :func:`compact_png`; returns the bytes saved (base64)."""
    saved = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                old = data["image/png"]
                old = old if isinstance(old, str) else "".join(old)
                data["image/png"] = compact_png(old)
                saved += len(old) - len(data["image/png"])
    return saved


def lessons() -> list[Path]:
    """Every notebook of the book, sorted."""
    return sorted(p for p in BOOK.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and "_build" not in p.parts)


def execute(path: Path, timeout: int = 900) -> float:
    """Run one notebook in a fresh kernel (working directory: its folder), save it, return seconds."""
    from nbclient import NotebookClient

    from helpers.book.widgets import STATIC_ENV

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=True,
                            resources={"metadata": {"path": str(path.parent)}})
    os.environ[STATIC_ENV] = "1"          # inherited by the kernel: controls are precomputed for the site
    start = time.perf_counter()
    try:
        client.execute()
    finally:
        os.environ.pop(STATIC_ENV, None)
    seconds = time.perf_counter() - start
    widgets_to_text(nb)
    compact_figures(nb)
    nb.metadata["cnn_book"] = {"code_sha256": code_hash(nb), "seconds": round(seconds, 1)}
    nbformat.write(nb, path)
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--check", action="store_true", help="verify committed outputs; execute nothing")
    parser.add_argument("--compact", action="store_true",
                        help="re-encode the stored figures as palette PNGs (what executing does); execute nothing")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or lessons()
    failed = 0
    for path in paths:
        if args.compact:
            nb = nbformat.read(path, as_version=4)
            saved = compact_figures(nb)
            nbformat.write(nb, path)
            print(f"{path.relative_to(ROOT)}: figures {saved / 1e6:.2f} MB smaller")
        elif args.check:
            found = problems(nbformat.read(path, as_version=4))
            print(f"{path.relative_to(ROOT)}: " + ("; ".join(found) if found else "ok"))
            failed += bool(found)
        else:
            print(f"{path.relative_to(ROOT)}: executed in {execute(path):.1f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
