"""Committed notebook outputs must come from the committed code, run top to bottom in a fresh kernel."""

import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("execute_notebooks", ROOT / "tools" / "execute_notebooks.py")
execute_notebooks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(execute_notebooks)

LESSONS = execute_notebooks.lessons()


def test_the_book_has_lessons():
    assert any(p.name.startswith("01_") for p in LESSONS)


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_committed_outputs_come_from_committed_code(path):
    assert execute_notebooks.problems(nbformat.read(path, as_version=4)) == []


def executed_notebook(code):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src, execution_count=i + 1) for i, src in enumerate(code)]
    nb.metadata["cnn_book"] = {"code_sha256": execute_notebooks.code_hash(nb)}
    return nb


def test_check_catches_edits_reorders_and_errors():
    nb = executed_notebook(["x = 1", "print(x)"])
    assert execute_notebooks.problems(nb) == []
    nb.cells[1].source = "print(x + 1)"
    assert execute_notebooks.problems(nb) == ["code changed since it was last executed"]
    nb = executed_notebook(["x = 1", "print(x)"])
    nb.cells[1].execution_count = 5
    assert "not run top to bottom" in execute_notebooks.problems(nb)[0]
    nb = executed_notebook(["1/0"])
    nb.cells[0].outputs = [nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="", traceback=[])]
    assert execute_notebooks.problems(nb) == ["has error outputs"]
    del nb.metadata["cnn_book"]
    assert "never executed" in execute_notebooks.problems(nb)[0]
