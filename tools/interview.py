"""The interview thread: the question list, the lessons' "Interview check" tables and the appendix.

Every lesson ends with a section ``## Interview check`` holding one Markdown table::

    | id | question | short answer | evidence |
    |---|---|---|---|
    | Q001-11 | What does the stride do to the output size? | ... | [Output size](#output-size) |

The evidence column holds one or more links to headings of the same notebook, separated by `` · ``
(``[Output size](#output-size) · [Stride](#stride)``).
:func:`render_appendix` turns the question list (``book/appendix/questions.tsv``)
and every lesson's table into the appendix page, which lists all questions,
grouped by the lesson that answers them, or marks them unanswered.

Run ``python tools/interview.py`` to rewrite the appendix page and
``python tools/interview.py --check`` to fail if it is out of date.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Citation", "heading_slug", "load_questions", "parse_interview_check",
    "collect_citations", "render_appendix", "main",
]

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "book" / "appendix" / "questions.tsv"
APPENDIX = ROOT / "book" / "appendix" / "interview_questions.md"
LESSONS = ROOT / "book" / "lessons"

_ID = r"Q\d{3}-\d{2}"
_LINK = r"\[([^\]]+)\]\(#([a-z0-9-]+)\)"
_ROW = re.compile(rf"^\|\s*({_ID})\s*\|(.+)\|(.+)\|\s*({_LINK}(?:\s*·\s*{_LINK})*)\s*\|\s*$")


@dataclass(frozen=True)
class Citation:
    """One row of a lesson's interview-check table."""

    qid: str
    question: str
    answer: str
    section: str
    anchor: str
    lesson: Path
    links: tuple[tuple[str, str], ...] = ()

    def __post_init__(self):
        if not self.links:                      # one link given as section and anchor
            object.__setattr__(self, "links", ((self.section, self.anchor),))


def load_questions(path: Path = QUESTIONS) -> dict[str, str]:
    """Question id -> question text, from the book's tab-separated copy (``#`` lines are comments)."""
    questions = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not re.fullmatch(_ID, parts[0]):
            raise ValueError(f"{path}:{number}: expected 'Qnnn-nn<TAB>question', got {line[:60]!r}")
        if parts[0] in questions:
            raise ValueError(f"{path}:{number}: duplicate id {parts[0]}")
        questions[parts[0]] = parts[1].strip()
    return questions


def _title(cells) -> str:
    for cell in cells:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


def heading_slug(title: str) -> str:
    """The anchor MyST gives a heading (GitHub style): lower case, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def parse_interview_check(notebook: Path) -> list[Citation]:
    """Rows of the notebook's ``## Interview check`` table (empty if it has none).

    Raises ``ValueError`` for a row that mentions a question id but does not
    follow the format, so a typo cannot hide a citation, and for a link to a
    heading the notebook does not have.
    """
    notebook = Path(notebook)
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    slugs = {
        heading_slug(line.lstrip("#"))
        for cell in cells
        if cell["cell_type"] == "markdown"
        for line in "".join(cell["source"]).splitlines()
        if re.match(r"#{1,6} ", line)
    }
    rows: list[Citation] = []
    in_section = False
    for cell in cells:
        if cell["cell_type"] != "markdown":
            continue
        for line in "".join(cell["source"]).splitlines():
            if line.startswith("#"):
                in_section = line.lstrip("#").strip().lower() == "interview check"
                continue
            if not in_section or not re.search(_ID, line):
                continue
            match = _ROW.match(line.strip())
            if not match:
                raise ValueError(
                    f"{notebook.name}: malformed interview-check row (expected "
                    f"'| Qnnn-nn | question | answer | [section](#anchor) |'): {line[:80]!r}"
                )
            qid, question, answer = (g.strip() for g in match.groups()[:3])
            links = tuple((title.strip(), anchor) for title, anchor in re.findall(_LINK, match.group(4)))
            for _, anchor in links:
                if anchor not in slugs:
                    raise ValueError(f"{notebook.name}: {qid} links to #{anchor}, "
                                     "which is not a heading of the notebook")
            rows.append(Citation(qid, question, answer, links[0][0], links[0][1], notebook, links))
    return rows


def collect_citations(lessons: Path = LESSONS) -> dict[Path, list[Citation]]:
    """Every lesson notebook (sorted by file name) -> its interview-check rows."""
    return {nb: parse_interview_check(nb) for nb in sorted(Path(lessons).glob("*.ipynb"))}


def render_appendix(questions: dict[str, str], citations: dict[Path, list[Citation]], page: Path = APPENDIX) -> str:
    """The appendix page as MyST Markdown; raises ``ValueError`` if a lesson cites an unknown id."""
    unknown = [f"{c.lesson.name}: {c.qid}" for rows in citations.values() for c in rows if c.qid not in questions]
    if unknown:
        raise ValueError("lessons cite question ids that do not exist in questions.tsv: " + ", ".join(unknown))
    answered = {c.qid for rows in citations.values() for c in rows}
    lines = [
        "# Interview questions",
        "",
        f"Every question asked by the source documents, {len(questions)} in all, with its id. "
        f"{len(answered)} are answered so far, each by the lesson section that shows the evidence in "
        "an executed cell; the lesson's own *Interview check* gives the short answer.",
        "",
        "This page is generated by `python tools/interview.py` from the lessons' interview-check tables.",
        "",
    ]
    for nb, rows in citations.items():
        if not rows:
            continue
        title = _title(json.loads(nb.read_text(encoding="utf-8"))["cells"]) or nb.stem
        rel = Path("..", nb.parent.name, nb.name).as_posix()
        lines += [f"## {title}", "", "| id | question | answered in |", "|---|---|---|"]
        for c in sorted(rows, key=lambda c: c.qid):
            evidence = " · ".join(f"[{section}]({rel}#{anchor})" for section, anchor in c.links)
            lines.append(f"| {c.qid} | {questions[c.qid]} | {evidence} |")
        lines.append("")
    missing = [q for q in questions if q not in answered]
    if missing:
        lines += ["## Not answered yet", "", "| id | question |", "|---|---|"]
        lines += [f"| {q} | {questions[q]} |" for q in missing]
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    """Write the appendix page, or with ``--check`` fail (exit 1) if it is out of date."""
    parser = argparse.ArgumentParser(description="Generate or check the interview-questions appendix.")
    parser.add_argument("--check", action="store_true", help="only check that the page is up to date")
    args = parser.parse_args(argv)
    text = render_appendix(load_questions(), collect_citations())
    if args.check:
        if not APPENDIX.is_file() or APPENDIX.read_text(encoding="utf-8") != text:
            print(f"{APPENDIX} is out of date: run `python tools/interview.py`", file=sys.stderr)
            return 1
        print(f"{APPENDIX.name} is up to date")
        return 0
    APPENDIX.write_text(text, encoding="utf-8")
    print(f"wrote {APPENDIX}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
