"""The built static site in a real browser (headless Chromium driven by Playwright).

Runs when ``CNN_BOOK_SITE`` names the built site (``make test`` sets it to
``_build/html`` after building). Every page must load with no JavaScript error
and no failed request (the site serves its own scripts, so it works offline);
lesson pages must show their figures, rendered math and a live widget.
Screenshots go to ``_build/screenshots``.
"""

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

SITE = os.environ.get("CNN_BOOK_SITE")
pytestmark = pytest.mark.skipif(not SITE, reason="set CNN_BOOK_SITE to the built site (make test does)")
SHOTS = Path(__file__).resolve().parents[1] / "_build" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-quic", "--no-first-run", "--disable-sync"]


def pages():
    root = Path(SITE or ".")
    return sorted(str(p.relative_to(root)) for p in root.glob("book/**/*.html"))


@pytest.fixture(scope="module")
def server():
    root = Path(SITE)
    assert (root / "index.html").is_file(), f"no built site at {root}: run `make book` first"
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    assert executable, "Chromium is needed for the site check: apt-get install chromium (make test does this as root)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_page(browser, url):
    """Load a page; return it with the JavaScript errors and failed requests seen on the way."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = []
    page.on("pageerror", lambda e: problems.append(f"JavaScript error: {e}"))
    page.on("console", lambda m: problems.append(f"console error: {m.text}") if m.type == "error" else None)
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    page.goto(url, wait_until="networkidle")
    return page, problems


def test_site_has_the_pages():
    assert "book/lessons/01_convolution.html" in pages()
    assert "book/appendix/interview_questions.html" in pages()


@pytest.mark.parametrize("path", pages())
def test_page_loads_without_errors(server, browser, path):
    page, problems = open_page(browser, f"{server}/{path}")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / (path.replace("/", "_").replace(".html", ".png"))))
    assert problems == []
    page.close()


@pytest.mark.parametrize("path", [p for p in pages() if "/lessons/" in p])
def test_lesson_shows_figures_math_and_widgets(server, browser, path):
    page, problems = open_page(browser, f"{server}/{path}")
    controls = ".jupyter-widgets .widget-slider, .jupyter-widgets .widget-dropdown"   # a lesson's knobs
    page.wait_for_selector(controls, state="visible", timeout=15000)
    figures = page.locator(".cell_output img")
    loaded = page.evaluate("Array.from(document.querySelectorAll('.cell_output img'))"
                           ".filter(i => i.complete && i.naturalWidth > 50).length")
    assert figures.count() >= 3 and loaded == figures.count(), f"{loaded}/{figures.count()} figures loaded"
    assert page.locator("mjx-container").count() > 0, "math was not rendered by MathJax"
    widget = page.locator(controls).first
    widget.scroll_into_view_if_needed()
    name = path.replace("/", "_").replace(".html", "")
    page.screenshot(path=str(SHOTS / f"{name}_widget.png"))
    assert problems == []
    page.close()
