"""The mock-interview page: every question of the mock interview is on it, answers are hidden and of spoken
length, and every evidence link points at a heading that exists (in the notebooks, and in the built site)."""

import html
import os
import re
from pathlib import Path

import pytest
from interview import heading_slug, load_questions

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "practice" / "mock_interview.md"
LINK = re.compile(r"\]\(\.\./lessons/([\w-]+)\.ipynb#([a-z0-9-]+)\)")
ANSWER = re.compile(r":::\{dropdown\} Answer\n(.*?)\n\*\*Evidence:\*\*(.*?)\n:::", re.S)


def _text():
    return PAGE.read_text(encoding="utf-8")


def _headings(lesson: str) -> set[str]:
    import json
    cells = json.loads((ROOT / "book" / "lessons" / f"{lesson}.ipynb").read_text(encoding="utf-8"))["cells"]
    return {heading_slug(line.lstrip("#")) for c in cells if c["cell_type"] == "markdown"
            for line in "".join(c["source"]).splitlines() if re.match(r"#{1,6} ", line)}


def test_every_mock_interview_question_is_on_the_page_in_order():
    ids = [q for q in load_questions() if q.startswith("Q000-")]
    assert len(ids) == 12
    positions = [_text().find(f"#### {q}:") for q in ids]
    assert all(p >= 0 for p in positions), [q for q, p in zip(ids, positions, strict=True) if p < 0]
    assert positions == sorted(positions), "the questions must follow the source document's order"


def test_answers_are_hidden_spoken_length_and_have_several_evidence_links():
    answers = ANSWER.findall(_text())
    assert len(answers) >= 12 + 5                       # the twelve questions and at least five follow-ups
    for body, evidence in answers:
        words = len(re.sub(r"`[^`]*`", "x", body).split())
        assert 60 <= words <= 125, f"{words} words: {body[:60]!r}"
        assert len(LINK.findall(evidence)) >= 2, f"fewer than two evidence links after {body[:60]!r}"


def test_every_link_points_at_an_existing_heading_of_its_lesson():
    links = LINK.findall(_text())
    assert len(links) > 30
    missing = [(lesson, anchor) for lesson, anchor in links if anchor not in _headings(lesson)]
    assert not missing, missing


@pytest.mark.skipif(not os.environ.get("CNN_BOOK_SITE"), reason="set CNN_BOOK_SITE to the built site (make test does)")
def test_the_built_page_hides_the_answers_and_its_links_resolve():
    site = Path(os.environ["CNN_BOOK_SITE"])
    page = (site / "book" / "practice" / "mock_interview.html").read_text(encoding="utf-8")
    dropdowns = re.findall(r"<details[^>]*sd-dropdown[^>]*>", page)
    assert len(dropdowns) >= 17 and not any(" open" in d for d in dropdowns)   # closed until the reader asks
    hrefs = set(re.findall(r'href="\.\./lessons/([\w-]+)\.html#([a-z0-9-]+)"', page))
    assert len(hrefs) > 20
    for lesson, anchor in hrefs:
        target = (site / "book" / "lessons" / f"{lesson}.html").read_text(encoding="utf-8")
        assert f'id="{html.escape(anchor)}"' in target, f"{lesson}.html has no element with id {anchor}"
