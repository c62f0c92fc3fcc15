"""The drawn diagrams in book/figures are up to date with tools/draw_diagrams.py and every one is used by a lesson."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_committed_diagrams_match_the_script():
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "draw_diagrams.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_diagram_is_shown_by_a_lesson_and_every_referenced_figure_exists():
    text = "".join("".join(c["source"]) for nb in sorted((ROOT / "book").rglob("*.ipynb"))
                   if "_build" not in nb.parts for c in json.loads(nb.read_text())["cells"]
                   if c["cell_type"] == "markdown")
    figures = sorted((ROOT / "book" / "figures").glob("*.svg"))
    assert len(figures) >= 5
    for figure in figures:
        assert f"figures/{figure.name}" in text, f"{figure.name} is not used by any lesson"
    for used in {part.split(")")[0] for part in text.split("../figures/")[1:]}:
        assert (ROOT / "book" / "figures" / used).exists(), used
