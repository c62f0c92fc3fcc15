"""The interview thread: question list, lesson tables, appendix page."""

import interview
import nbformat
import pytest


def make_notebook(path, table_rows, heading="## Output size"):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A lesson\n\n" + heading + "\n\ntext"),
        nbformat.v4.new_markdown_cell(
            "## Interview check\n\n| id | question | short answer | evidence |\n|---|---|---|---|\n"
            + "\n".join(table_rows)
        ),
    ]
    nbformat.write(nb, path)
    return path


def test_question_list_is_complete_and_unique():
    questions = interview.load_questions()
    assert len(questions) == 80
    assert questions["Q001-11"].startswith("Can you explain what a stride is")


def test_parse_and_render(tmp_path):
    nb = make_notebook(tmp_path / "01_x.ipynb", ["| Q001-11 | Stride? | It skips. | [Output size](#output-size) |"])
    rows = interview.parse_interview_check(nb)
    assert [(r.qid, r.section, r.anchor) for r in rows] == [("Q001-11", "Output size", "output-size")]
    page = interview.render_appendix({"Q001-11": "What is a stride?", "Q001-12": "Backprop?"}, {nb: rows})
    assert "## A lesson" in page and "[Output size](../" in page and "01_x.ipynb#output-size)" in page
    assert "## Not answered yet" in page and "| Q001-12 | Backprop? |" in page


def test_several_evidence_links_are_parsed_checked_and_rendered(tmp_path):
    nb = make_notebook(tmp_path / "01_x.ipynb",
                       ["| Q001-11 | Stride? | It skips. | [Output size](#output-size) · [Stride](#stride) |"],
                       heading="## Output size\n\n### Stride")
    (row,) = interview.parse_interview_check(nb)
    assert row.links == (("Output size", "output-size"), ("Stride", "stride"))
    assert (row.section, row.anchor) == ("Output size", "output-size")
    page = interview.render_appendix({"Q001-11": "What is a stride?"}, {nb: [row]})
    assert "01_x.ipynb#output-size) · [Stride](../" in page and "01_x.ipynb#stride) |" in page
    bad = make_notebook(tmp_path / "02_x.ipynb",
                        ["| Q001-11 | Stride? | It skips. | [Output size](#output-size) · [Gone](#gone) |"])
    with pytest.raises(ValueError, match="#gone, which is not a heading"):
        interview.parse_interview_check(bad)


def test_unknown_id_fails(tmp_path):
    nb = make_notebook(tmp_path / "a.ipynb", ["| Q999-99 | ? | ! | [Output size](#output-size) |"])
    with pytest.raises(ValueError, match="Q999-99"):
        interview.render_appendix(interview.load_questions(), {nb: interview.parse_interview_check(nb)})


@pytest.mark.parametrize("row,message", [
    ("| Q001-11 | Stride? | It skips. | Output size |", "malformed"),
    ("| Q001-11 | Stride? | It skips. | [Output size](#no-such-heading) |", "not a heading"),
])
def test_bad_rows_fail(tmp_path, row, message):
    nb = make_notebook(tmp_path / "a.ipynb", [row])
    with pytest.raises(ValueError, match=message):
        interview.parse_interview_check(nb)


def test_heading_slug():
    assert interview.heading_slug(" Output size: stride, padding, dilation") == "output-size-stride-padding-dilation"


def test_book_citations_are_valid_and_appendix_is_current():
    citations = interview.collect_citations()
    interview.render_appendix(interview.load_questions(), citations)  # raises on unknown ids
    assert interview.main(["--check"]) == 0, "run `python tools/interview.py` to regenerate the appendix"
