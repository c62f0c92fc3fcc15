"""The exercises: every lesson has a notebook of 2-4 exercises, each with a stub, a check and a hidden solution that
passes its check; the index page and the lessons' exercise sections are generated from them and up to date."""

import json
import os
import re
from pathlib import Path

import exercises
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book" / "exercises").glob("*_exercises.ipynb"))


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _printed(cell) -> str:
    return "".join("".join(o.get("text", "")) for o in cell.get("outputs", []))


def test_every_lesson_has_two_to_four_exercises():
    lessons = sorted(p.stem for p in (ROOT / "book" / "lessons").glob("*.ipynb"))
    found = exercises.read_exercises()
    missing = [lesson for lesson in lessons if not 2 <= len(found.get(lesson, [])) <= 4]
    assert not missing, f"lessons without 2-4 exercises: {missing}"
    assert any(e.minutes for items in found.values() for e in items), "no interview-style exercise"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_exercise_has_a_stub_a_check_and_a_hidden_passing_solution(path):
    cells = _cells(path)
    starts = [k for k, c in enumerate(cells) if c["cell_type"] == "markdown"
              and "".join(c["source"]).startswith("## Exercise")]
    assert starts
    for k in starts:
        stub, check, _, solution = cells[k + 1: k + 5]
        assert "raise NotImplementedError" in "".join(stub["source"]), f"{path.name} cell {k + 1} is not a stub"
        assert "check(" in "".join(check["source"]) and "NotImplementedError" not in "".join(check["source"])
        stub_out = _printed(check)
        assert "not attempted yet" in stub_out, f"{path.name}: the stub's check printed {stub_out!r}"
        tags = solution["metadata"].get("tags", [])
        assert {"hide-input", "nbval-check-output"} <= set(tags), f"{path.name}: solution cell tags {tags}"
        assert solution["metadata"].get("jupyter", {}).get("source_hidden") is True
        assert "PASS" in _printed(solution)


def _notebook(folder, name, *headings):
    cells = [{"cell_type": "markdown", "metadata": {}, "source": h} for h in headings]
    (folder / name).write_text(json.dumps({"cells": cells}), encoding="utf-8")


def test_malformed_or_out_of_sequence_headings_are_refused(tmp_path):
    good = "## Exercise 3.1: Softmax\n\n*★☆☆ warm-up · interview-style: aim for 5 minutes*"
    _notebook(tmp_path, "03_backprop_exercises.ipynb", good, "## Exercise 3.2: Dense\n\n*★★☆ core*")
    found = exercises.read_exercises(tmp_path)["03_backprop"]
    assert [(e.number, e.minutes, e.level) for e in found] == [("3.1", 5, "warm-up"), ("3.2", None, "core")]
    assert found[0].anchor == "exercise-31-softmax"
    _notebook(tmp_path, "03_backprop_exercises.ipynb", good, "## Exercise 3.3: Dense\n\n*★★☆ core*")
    with pytest.raises(ValueError, match="out of sequence"):
        exercises.read_exercises(tmp_path)
    _notebook(tmp_path, "03_backprop_exercises.ipynb", "## Exercise 3.1: Softmax\n\nhard")
    with pytest.raises(ValueError, match="expected '## Exercise N.k: title'"):
        exercises.read_exercises(tmp_path)


def test_index_and_lesson_sections_are_up_to_date():
    assert exercises.main(["--check"]) == 0


@pytest.mark.skipif(not os.environ.get("CNN_BOOK_SITE"), reason="set CNN_BOOK_SITE to the built site (make test does)")
def test_solutions_are_hidden_on_the_site():
    site = Path(os.environ["CNN_BOOK_SITE"])
    for path in NOTEBOOKS:
        page = (site / "book" / "exercises" / f"{path.stem}.html").read_text(encoding="utf-8")
        hidden = len(re.findall(r'<details class="[^"]*hide above-input"', page))      # collapsed code cells
        n_exercises = len(re.findall(r"<h2[^>]*>Exercise", page))
        assert n_exercises >= 2 and hidden >= n_exercises + 1, (path.stem, hidden, n_exercises)  # + the set-up cell
        assert page.count("PASS:") == n_exercises                # the solutions' checks ran and are shown
