"""Execute lessons top to bottom in a fresh kernel and record what code made their outputs.

    python tools/execute_notebooks.py                 # every lesson under book/
    python tools/execute_notebooks.py book/lessons/01_convolution.ipynb
    python tools/execute_notebooks.py --check         # verify the committed notebooks, run nothing

Executing writes the outputs, the widget state (so widgets render on the static
site) and ``metadata.cnn_book`` = {code_sha256, seconds} into each notebook.
``--check`` fails when a notebook's code changed after it was last executed
(hash mismatch), when it was not run top to bottom in one fresh kernel
(execution counts not 1, 2, 3, ...), or when it holds an error output.
"""

from __future__ import annotations

import argparse
import hashlib
import json
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
    return found


def lessons() -> list[Path]:
    """Every notebook of the book, sorted."""
    return sorted(p for p in BOOK.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and "_build" not in p.parts)


def execute(path: Path, timeout: int = 900) -> float:
    """Run one notebook in a fresh kernel (working directory: its folder), save it, return seconds."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=True,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    nb.metadata["cnn_book"] = {"code_sha256": code_hash(nb), "seconds": round(seconds, 1)}
    nbformat.write(nb, path)
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--check", action="store_true", help="verify committed outputs; execute nothing")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or lessons()
    failed = 0
    for path in paths:
        if args.check:
            found = problems(nbformat.read(path, as_version=4))
            print(f"{path.relative_to(ROOT)}: " + ("; ".join(found) if found else "ok"))
            failed += bool(found)
        else:
            print(f"{path.relative_to(ROOT)}: executed in {execute(path):.1f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
